"""Selective prediction and cascade arithmetic on hand-made arrays."""

from __future__ import annotations

import pytest

from llmkd.evaluation.selective import (
    ABOVE_ALL,
    cascade_markdown,
    cascade_points,
    cascade_table,
    choose_point,
    coverage_accuracy,
    selective_markdown,
    selective_summary,
    teacher_usd_per_1000,
)

# Five items, most confident first after sorting: 0.9 (right), 0.8 (right), 0.7 (wrong), 0.6 (right), 0.5 (wrong)
CONF = [0.6, 0.9, 0.5, 0.8, 0.7]
STUDENT = [True, True, False, True, False]
TEACHER = [False, True, True, True, True]


def test_coverage_accuracy_keeps_the_most_confident_share() -> None:
    rows = coverage_accuracy(CONF, STUDENT, coverages=(0.2, 0.4, 0.6, 0.8, 1.0))
    assert [r["n"] for r in rows] == [1, 2, 3, 4, 5]
    assert [r["accuracy"] for r in rows] == pytest.approx([1.0, 1.0, 2 / 3, 3 / 4, 3 / 5])
    assert [r["threshold"] for r in rows] == [0.9, 0.8, 0.7, 0.6, 0.5]
    assert coverage_accuracy([0.7, 0.9], [False, True], coverages=(0.3,))[0]["n"] == 1  # ceil(0.6) = 1
    assert coverage_accuracy([], []) == []


def test_cascade_points_defer_the_least_confident_first() -> None:
    points = cascade_points(CONF, STUDENT, TEACHER, teacher_usd=0.01, student_usd_per_item=0.001)
    assert [p.deferred for p in points] == [0, 1, 2, 3, 4, 5]
    # defer 0.5 (student wrong, teacher right): 4/5; then 0.6 (student right, teacher wrong): 3/5; then 0.7: 4/5
    assert [p.accuracy for p in points] == pytest.approx([3 / 5, 4 / 5, 3 / 5, 4 / 5, 4 / 5, 4 / 5])
    assert [p.threshold for p in points] == [0.5, 0.6, 0.7, 0.8, 0.9, ABOVE_ALL]
    assert points[0].usd_per_1000 == pytest.approx(1.0)  # the student alone: $0.001 x 1,000
    assert points[2].usd_per_1000 == pytest.approx(1.0 + 2 * 0.01 * 1000 / 5)
    assert points[5].teacher_usd_per_1000 == pytest.approx(10.0)
    assert points[5].accuracy == pytest.approx(sum(TEACHER) / 5)  # everything deferred: the teacher
    per_item = cascade_points(CONF, STUDENT, TEACHER, teacher_usd=[0.0, 0.0, 0.05, 0.0, 0.0])
    assert [p.teacher_usd_per_1000 for p in per_item] == pytest.approx([0, 10, 10, 10, 10, 10])


def test_the_table_picks_the_nearest_rate_and_choose_point_meets_the_target() -> None:
    points = cascade_points(CONF, STUDENT, TEACHER, teacher_usd=0.01)
    table = cascade_table(points, rates=(0.0, 0.2, 0.5, 1.0))
    assert [p.deferred for p in table] == [0, 1, 2, 5]
    assert choose_point(points, target_accuracy=0.8).deferred == 1
    assert choose_point(points, target_accuracy=0.99).accuracy == pytest.approx(0.8)  # unreachable: the best
    assert choose_point(points, max_teacher_usd_per_1000=0.0).deferred == 0
    assert choose_point(points, max_teacher_usd_per_1000=2.0).deferred == 1  # 1 item = $2 per 1,000
    with pytest.raises(ValueError):
        choose_point(points)
    text = cascade_markdown(table, teacher="gpt")
    assert "| 0% (0/5) | student | 0.600 |" in text and "| 100% (5/5) | gpt | 0.800 |" in text


def test_selective_summary_uses_the_items_both_labelled() -> None:
    gold = ["a", "b", "a", "b", "a"]
    student = ["a", "b", "b", "b", None]
    teacher = ["b", "b", "a", None, "a"]
    summary = selective_summary([0.9, 0.8, 0.4, 0.7, None], student, teacher, gold, 0.5, 20.0)
    assert summary is not None
    assert summary["coverage_accuracy"][-1] == {"coverage": 1.0, "n": 4, "accuracy": 0.75, "threshold": 0.4}
    cascade = summary["cascade"]
    assert cascade["n"] == 3 and cascade["costs_known"]
    first, last = cascade["table"][0], cascade["table"][-1]
    assert first["accuracy"] == pytest.approx(2 / 3) and last["accuracy"] == pytest.approx(2 / 3)
    assert last["usd_per_1000"] == pytest.approx(20.5)
    assert any("### Selective prediction" in line for line in selective_markdown(summary))
    assert selective_summary([None], [None], ["a"], ["a"], None, None) is None


def test_teacher_cost_comes_from_the_ledger_spend_and_local_cpu() -> None:
    cost = {"api_teachers": {"gpt": {"usd_per_1000": 2.5}}, "local_teachers_usd_per_1000": {"local": 0.1}}
    assert teacher_usd_per_1000(cost, ["gpt"]) == 2.5
    assert teacher_usd_per_1000(cost, ["gpt", "local"]) == pytest.approx(2.6)
    assert teacher_usd_per_1000(cost, ["other"]) is None
