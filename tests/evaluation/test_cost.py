"""Evaluate's speed and cost figures (llmkd/evaluation/cost.py): speed-up over local teachers, API spend
read from the ledger and shown per 1,000 items in report.md and report.html."""

from __future__ import annotations

import base64
import json
import re

import pytest

from llmkd.evaluate import main
from llmkd.evaluation.cost import speedup
from llmkd.io.records import TeacherOutput
from llmkd.run.ledger import RunLedger
from tests.tiny_runs import write_gold, write_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_speedup_counts_every_local_teacher_of_the_run():
    llm = {"throughput_items_per_s": 2.0}  # 0.5 s per item
    lexicon = {"throughput_items_per_s": 10_000.0}  # 0.0001 s per item
    assert speedup(100.0, {"llm": llm}) == pytest.approx(50.0)
    # An ensemble labels each item with both: 0.5001 s per item, not the lexicon's 0.0001.
    assert speedup(100.0, {"llm": llm, "lexicon": lexicon}) == pytest.approx(50.01)


def test_report_html_and_api_cost_from_ledger(tmp_path, capsys):
    run = write_run(tmp_path)
    gold = write_gold(tmp_path)
    settings = {"task": "fin-sentiment", "teacher": ["openai:gpt-4o"]}
    (run / "generate_config.json").write_text(json.dumps(settings))
    with RunLedger(run / "ledger.sqlite") as ledger:
        for i, cost in enumerate([0.001, 0.002, 0.003, 0.002]):
            output = TeacherOutput(label="positive", probs=None, rationale=None, raw="", cost_usd=cost)
            ledger.put(
                f"k{i}",
                teacher="openai:gpt-4o",
                model="gpt-4o",
                item_id=f"r{i % 3}",  # item r0 was asked twice (e.g. a re-ask): 3 items, $0.008
                sample=0,
                kind="label",
                request={},
                output=output,
            )
    assert main(["--run", str(run), "--gold", str(gold), "--cpu-usd-per-hour", "0.5"]) == 0
    result = json.loads((run / "eval.json").read_text())
    api = result["cost"]["api_teachers"]["openai:gpt-4o"]
    assert api["items"] == 3 and api["requests"] == 4
    assert api["usd_per_1000"] == pytest.approx(1000 * 0.008 / 3)
    assert result["cost"]["cpu_usd_per_hour"] == 0.5 and result["teacher_speed"] == {}
    html = (run / "report.html").read_text()
    assert html.startswith("<!doctype html>") and "<table>" in html
    images = re.findall(r'<img src="([^"]+)"', html)
    assert images and all(src.startswith("data:image/png;base64,") for src in images)
    assert base64.b64decode(images[0].split(",", 1)[1]).startswith(PNG_MAGIC)
    assert "$2.6667" in (run / "report.md").read_text()  # cost per 1,000 items in the summary table
    assert "report.html" in capsys.readouterr().out


def test_lexicon_teacher_is_not_said_to_write_rationales(tmp_path):
    run = write_run(tmp_path)
    gold = write_gold(tmp_path)
    settings = {"task": "fin-sentiment", "teacher": ["lexicon"], "rationale": True}
    (run / "generate_config.json").write_text(json.dumps(settings))
    assert main(["--run", str(run), "--gold", str(gold), "--no-plots"]) == 0
    speed = json.loads((run / "eval.json").read_text())["teacher_speed"]
    assert speed["lexicon"]["rationale"] is None
    report = (run / "report.md").read_text()
    assert "Local teacher `lexicon`" in report and "rationales" not in report
