"""A run stopped by --max-cost-usd: records some teacher has not answered are marked pending."""

from __future__ import annotations

from pathlib import Path

from llmkd.generation.labelling import mark_pending
from llmkd.io.records import TeacherOutput
from llmkd.run.ledger import RunLedger


def test_unanswered_records_and_partial_ensembles_are_pending(tmp_path: Path) -> None:
    with RunLedger(tmp_path / "ledger.sqlite") as ledger:
        for key, teacher, item in [("a1", "a", "i1"), ("a2", "a", "i2"), ("b1", "b", "i1")]:
            output = TeacherOutput(label="positive", probs=None, rationale=None, raw="positive")
            ledger.put(
                key,
                teacher=teacher,
                model="m",
                item_id=item,
                sample=0,
                kind="label",
                request={},
                output=output,
            )
        chains = {
            "a": {"i1": [("a1",)], "i2": [("a2",)], "i3": [("a3",)]},
            "b": {"i1": [("b1", "b1~resend1")], "i2": [("b2",)], "i3": [("b3",)]},
        }
        records = [
            {"id": i, "label": "positive", "probs": {"positive": 1.0}, "status": "ok"} for i in ("i1", "i2")
        ]
        records.append({"id": "i3", "label": None, "probs": None, "status": "invalid"})
        assert mark_pending(records, chains, ledger, "not labelled yet: budget") == 2
    assert records[0]["status"] == "ok"  # both teachers answered
    # Teacher a alone answered i2: its label must not pass for the ensemble's.
    assert records[1] == {
        "id": "i2",
        "label": None,
        "probs": None,
        "rationale": None,
        "status": "pending",
        "error": "not labelled yet: budget",
    }
    assert records[2]["status"] == "pending"
