"""The lexicon teacher: labels by finance-lexicon polarity, caches like any teacher, joins ensembles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmkd.errors import TeacherError
from llmkd.generate import main as generate_main
from llmkd.io.records import Item
from llmkd.io.task import load_task
from llmkd.run.ledger import RunLedger
from llmkd.scoring.lexicon import load_lexicon
from llmkd.teachers import TeacherOptions, build_teacher, teacher_kind
from llmkd.teachers.base import TeacherRequest
from llmkd.teachers.lexicon import LexiconTeacher, lexicon_label
from llmkd.teachers.local import LocalTeacher
from tests.tiny_runs import read_labels

CASES = {
    "Operating profit rose to EUR 13.1 mn from EUR 8.7 mn .": "positive",
    "Net sales fell 12 % and the company cut 40 jobs .": "negative",
    "The company is headquartered in Espoo , Finland .": "neutral",
    "The results did not improve in the second quarter .": "negative",  # negator flips "improve"
}


def test_labels_by_polarity_sign_with_no_invented_probabilities() -> None:
    teacher = build_teacher("lexicon", load_task("fin-sentiment"), TeacherOptions())
    assert isinstance(teacher, LexiconTeacher) and teacher_kind("lexicon") == "lexicon"
    seen = []
    requests = [TeacherRequest(Item(id=str(i), text=t)) for i, t in enumerate(CASES)]
    outputs = teacher.label(requests, on_result=lambda req, out: seen.append(req.item.id))
    assert [o.label for o in outputs] == list(CASES.values())
    assert seen == ["0", "1", "2", "3"]  # each answer reported as it is made
    for output in outputs:
        assert output.probs is None and output.prob_method == "none" and output.status == "ok"
        assert lexicon_label(output.extra["lexicon_score"]) == output.label
    assert outputs[0].extra["lexicon_score"] >= 2  # "profit", "rose"


def test_own_lexicon_file_and_its_hash_keys_the_ledger(tmp_path: Path) -> None:
    task = load_task("fin-sentiment")
    path = tmp_path / "mine.yaml"
    path.write_text("positive: [bullish]\nnegative: [bearish]\nnegators: [not]\n", encoding="utf-8")
    mine = build_teacher(f"lexicon:{path}", task, TeacherOptions())
    out = mine.label([TeacherRequest(Item(id="a", text="Analysts are bullish")) for _ in range(1)])
    assert out[0].label == "positive"
    assert mine.label([TeacherRequest(Item(id="b", text="profit rose"))])[0].label == "neutral"
    default = build_teacher("lexicon", task, TeacherOptions())
    request = TeacherRequest(Item(id="a", text="x"))
    assert mine.request_payload(request) != default.request_payload(request)
    # Comments and layout do not change the answers, so they do not change the ledger key either.
    path.write_text(
        "# mine\npositive:\n  - bullish\nnegative: [bearish]\nnegators: [not]\n", encoding="utf-8"
    )
    load_lexicon.cache_clear()
    same = build_teacher(f"lexicon:{path}", task, TeacherOptions())
    assert same.request_payload(request) == mine.request_payload(request)


@pytest.mark.parametrize(
    ("spec", "task", "needle"),
    [
        ("lexicon", "monetary-policy", "lacks positive, negative"),
        ("lexicon:/no/such/lexicon.yaml", "fin-sentiment", "no such lexicon file"),
    ],
)
def test_unusable_lexicon_is_a_clear_error(spec: str, task: str, needle: str) -> None:
    with pytest.raises(TeacherError, match=needle):
        build_teacher(spec, load_task(task), TeacherOptions())


def test_not_a_lexicon_yaml_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("just: a mapping\n", encoding="utf-8")
    with pytest.raises(TeacherError, match="not a lexicon YAML"):
        build_teacher(f"lexicon:{path}", load_task("fin-sentiment"), TeacherOptions())


def test_generate_with_lexicon_is_local_and_cached(tmp_path: Path) -> None:
    src = tmp_path / "news.txt"
    src.write_text("\n".join(CASES) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    argv = ["--input", str(src), "--teacher", "lexicon", "--run", str(run), "--privacy", "local-only"]
    assert generate_main(argv) == 0
    records = read_labels(run)
    assert [r["label"] for r in records] == list(CASES.values())
    for rec in records:  # the teacher's own view has no probabilities; the record's are its one-hot label
        assert rec["teachers"]["lexicon"]["probs"] is None and rec["prob_method"] == "none"
        assert rec["probs"] == {
            lab: float(lab == rec["label"]) for lab in ("positive", "negative", "neutral")
        }
    with RunLedger(run / "ledger.sqlite") as ledger:
        assert ledger.count() == len(CASES)
    before = (run / "labels.jsonl").read_text()
    assert generate_main(argv) == 0
    assert (run / "labels.jsonl").read_text() == before
    with RunLedger(run / "ledger.sqlite") as ledger:
        assert ledger.count() == len(CASES)


def test_ensemble_with_a_local_llm_then_keep_what_both_say(tmp_path: Path, tiny_llama: Path) -> None:
    from llmkd.filter import main as filter_main

    src = tmp_path / "news.txt"
    src.write_text("\n".join(CASES) + "\n", encoding="utf-8")
    run = tmp_path / "run"
    spec = f"hf:{tiny_llama}"
    argv = ["--input", str(src), "--teacher", spec, "--teacher", "lexicon", "--run", str(run)]
    assert generate_main([*argv, "--no-rationale", "--batch-size", "4"]) == 0
    records = read_labels(run)
    for rec in records:
        assert set(rec["teachers"]) == {spec, "lexicon"}
        llm = rec["teachers"][spec]["probs"]
        lexicon = rec["teachers"]["lexicon"]["label"]
        # probability average, the lexicon's hard label counting as one-hot
        expected = {lab: (llm[lab] + float(lab == lexicon)) / 2 for lab in llm}
        assert rec["probs"] == pytest.approx(expected)
    agree = {r["id"] for r in records if len({v["label"] for v in r["teachers"].values()}) == 1}
    flags = ["--min-agreement", "1", "--min-confidence", "0", "--no-dedup", "--language", "any"]
    assert filter_main(["--run", str(run), *flags, "--min-chars", "1", "--no-progress"]) == 0
    kept = [json.loads(line) for line in (run / "filtered.jsonl").read_text().splitlines()]
    assert {r["id"] for r in kept} == agree
    removed = [json.loads(line) for line in (run / "removed.jsonl").read_text().splitlines()]
    assert len(removed) == len(CASES) - len(agree)
    assert all("low_agreement" in r["reasons"] for r in removed)


def test_lexicon_teacher_loads_no_model(monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise AssertionError("a language model was loaded")

    monkeypatch.setattr(LocalTeacher, "from_spec", boom)
    teacher = build_teacher("lexicon", load_task("fin-sentiment"), TeacherOptions())
    assert teacher.label([TeacherRequest(Item(id="x", text="profit rose"))])[0].label == "positive"


def test_lexicon_cannot_augment(tmp_path: Path) -> None:
    from llmkd.errors import ConfigError

    src = tmp_path / "news.txt"
    src.write_text("profit rose\n", encoding="utf-8")
    argv = ["--input", str(src), "--teacher", "lexicon", "--run", str(tmp_path / "run"), "--augment", "2"]
    with pytest.raises(ConfigError, match="cannot write examples"):
        generate_main(argv)
