"""The Filter section of report.md (llmkd/filtering/report.py) says what removed.jsonl says."""

from __future__ import annotations

from typing import Any

from llmkd.filtering.report import build_report, render_markdown

LABELS = ["positive", "negative", "neutral"]


def rec(rid: str, text: str, reasons: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    out = {"id": rid, "text": text, "label": "positive", "scores": {"top_prob": 0.9}, **extra}
    if reasons is not None:
        out["reasons"] = reasons
    return out


def test_cluster_with_a_removed_first_record_is_not_called_kept() -> None:
    kept = [rec("k1", "Kestrel Logistics raised its outlook.")]
    removed = [
        rec("lead", "Ylva Cosmetics opened a flagship store.", ["leakage_near"]),
        rec("copy", "Ylva Cosmetics opened a flagship store!", ["exact_duplicate"], duplicate_of="lead"),
        rec("dup", "Kestrel Logistics raised its outlook!", ["exact_duplicate"], duplicate_of="k1"),
    ]
    report = build_report(kept, removed, {}, LABELS)
    md = render_markdown(report, None)
    assert "kept: Ylva" not in md
    assert "removed (leakage_near): Ylva Cosmetics opened a flagship store." in md
    assert "kept: Kestrel Logistics raised its outlook." in md
    flags = {c["representative"]["id"]: c["representative_kept"] for c in report["near_duplicate_clusters"]}
    assert flags == {"lead": False, "k1": True}


def test_gold_accuracy_line_skips_groups_without_gold() -> None:
    kept = [rec("a", "Sales rose.", gold="positive"), rec("b", "Sales fell.", gold="negative")]
    md = render_markdown(build_report(kept, [], {}, LABELS), None)
    assert "None" not in md
    assert "Teacher accuracy against gold: all 0.5 (n=2), kept 0.5 (n=2)." in md
