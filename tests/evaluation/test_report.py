"""The evaluate stage's tables (llmkd/evaluation/report.py)."""

from __future__ import annotations

import pytest

from llmkd.evaluation.cost import combined_teachers
from llmkd.evaluation.report import summary_table


def test_summary_table_shows_an_ensembles_teachers_together():
    speed = {
        "llm": {"throughput_items_per_s": 2.0, "latency_ms_per_item": 500.0, "parameters": 630_000_000},
        "lexicon": {"throughput_items_per_s": 10_000.0, "latency_ms_per_item": 0.1, "parameters": None},
    }
    together = combined_teachers(speed)
    assert together["throughput_items_per_s"] == pytest.approx(1 / 0.5001)
    assert together["latency_ms_per_item"] == pytest.approx(500.1) and together["parameters"] == 630_000_000
    result = {
        "student": None,
        "teacher": {"n": 3, "accuracy": 0.5, "teachers": ["llm,lexicon"]},
        "agreement": None,
        "teacher_speed": speed,
        "cost": {"local_teachers_usd_per_1000": {"llm": 0.0139, "lexicon": 0.0001}, "api_teachers": {}},
    }
    table = summary_table(result)
    assert "| throughput on this machine (items/s) | 2.0 |" in table  # not the lexicon's 10000
    assert "| latency (ms/item, batched) | 500.10 |" in table
    assert "| parameters | 630.0 M |" in table and "| cost per 1,000 items | $0.0140 |" in table
