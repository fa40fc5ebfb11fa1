"""evaluate labels the gold texts the run's teachers never saw: local teachers by default, API teachers
(a loopback OpenAI server here) only with --label-gold-with-api-teachers and within --max-cost-usd."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmkd.errors import ConfigError, TeacherError
from llmkd.evaluate import main
from llmkd.run.ledger import RunLedger
from tests.servers.openai_server import OpenAIServer
from tests.tiny_runs import GOLD, write_gold, write_run

UNSEEN = {GOLD[5][1], GOLD[6][1]}  # g6 and r5: texts no labels.jsonl record holds
MINI = "openai:gpt-4o-mini"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "LLMKD_PRIVACY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-loopback")


def run_with(root: Path, **settings: Any) -> tuple[Path, Path]:
    run = write_run(root)
    (run / "generate_config.json").write_text(json.dumps({"task": "fin-sentiment", **settings}))
    return run, write_gold(root)


def evaluate(run: Path, gold: Path, *extra: str) -> dict[str, Any]:
    assert main(["--run", str(run), "--gold", str(gold), "--no-plots", "--no-time-teacher", *extra]) == 0
    return json.loads((run / "eval.json").read_text())


def ledger_texts(run: Path) -> list[str]:
    if not (run / "ledger.sqlite").is_file():
        return []
    with RunLedger(run / "ledger.sqlite") as ledger:
        return [row.request.get("text") or row.request["prompt"][-1]["content"] for row in ledger.rows()]


def test_local_teacher_labels_the_unseen_gold_texts_once(tmp_path: Path) -> None:
    run, gold = run_with(tmp_path, teacher=["lexicon"])
    result = evaluate(run, gold)
    teacher = result["teacher"]
    # 4 matched (3 right) + g6 ("profit rose": positive, right) + r5 ("annual meeting": neutral, right)
    assert teacher["n"] == 6 and teacher["accuracy"] == pytest.approx(5 / 6)
    assert any("labelled 2 of the 2 gold texts" in note for note in result["notes"])
    assert sorted(ledger_texts(run)) == sorted(UNSEEN)
    rows = {r["text"]: r for r in map(json.loads, (run / "predictions.jsonl").read_text().splitlines())}
    assert rows[GOLD[5][1]]["teacher"] == "positive" and rows[GOLD[6][1]]["teacher"] == "neutral"
    again = evaluate(run, gold)  # cached: nothing new in the ledger
    assert again["teacher"]["n"] == 6 and len(ledger_texts(run)) == 2


def test_no_label_gold_keeps_the_teacher_to_its_own_records(tmp_path: Path) -> None:
    run, gold = run_with(tmp_path, teacher=["lexicon"])
    assert evaluate(run, gold, "--no-label-gold")["teacher"]["n"] == 4
    assert ledger_texts(run) == []


def test_api_teacher_without_the_flag_says_which_command_labels_them(tmp_path: Path) -> None:
    with OpenAIServer() as server:
        run, gold = run_with(tmp_path, teacher=[MINI], base_url=server.url)
        result = evaluate(run, gold, "--id-column", "id")
        assert server.record.texts == {}
    assert result["teacher"]["n"] == 4
    command = (
        f"`python -m llmkd.evaluate --run {run} --gold {gold} --id-column id "
        "--label-gold-with-api-teachers --max-cost-usd DOLLARS`"
    )
    note = next(n for n in result["notes"] if "bill per request" in n)
    assert note.startswith("2 of the 7 gold texts") and command in note and MINI in note


def test_api_teacher_with_the_flag_labels_within_the_cap(tmp_path: Path) -> None:
    with OpenAIServer() as server:
        run, gold = run_with(tmp_path, teacher=[MINI], base_url=server.url)
        flags = ["--label-gold-with-api-teachers", "--max-cost-usd", "0.05"]
        result = evaluate(run, gold, *flags)
        assert set(server.record.texts) == UNSEEN and sum(server.record.texts.values()) == 2
        assert result["teacher"]["n"] == 6
        spend = result["cost"]["api_teachers"][MINI]
        assert spend["items"] == 2 and 0 < spend["usd"] <= 0.05
        evaluate(run, gold, *flags)  # a rerun pays for nothing
        assert sum(server.record.texts.values()) == 2


def test_api_teacher_stopped_by_the_cap_scores_only_what_was_answered(tmp_path: Path) -> None:
    with OpenAIServer() as server:
        run, gold = run_with(tmp_path, teacher=[MINI], base_url=server.url)
        result = evaluate(run, gold, "--label-gold-with-api-teachers", "--max-cost-usd", "0.0000001")
        assert server.record.texts == {}
    assert result["teacher"]["n"] == 4
    assert any("--max-cost-usd" in n and "a rerun with a higher" in n for n in result["notes"])
    assert any("labelled 0 of the 2 gold texts" in n for n in result["notes"])


def test_api_flag_needs_a_cost_cap(tmp_path: Path) -> None:
    run, gold = run_with(tmp_path, teacher=[MINI])
    with pytest.raises(ConfigError, match="--label-gold-with-api-teachers needs --max-cost-usd"):
        main(["--run", str(run), "--gold", str(gold), "--label-gold-with-api-teachers"])


def test_the_run_privacy_policy_holds_for_gold_texts(tmp_path: Path) -> None:
    run, gold = run_with(tmp_path, teacher=[MINI], privacy="local-only")
    argv = ["--run", str(run), "--gold", str(gold), "--label-gold-with-api-teachers", "--max-cost-usd", "1"]
    with pytest.raises(TeacherError, match="--privacy local-only refuses teacher"):
        main(argv)
    assert ledger_texts(run) == []
