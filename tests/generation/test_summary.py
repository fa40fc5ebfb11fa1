"""generate's console report: the limits line and the note when the limits bound."""

from __future__ import annotations

import pytest

from llmkd.generation.summary import TeacherRun, binding_note, describe_limits, print_summary
from llmkd.teachers.pricing import client_limits


def test_limits_say_where_each_came_from() -> None:
    assert describe_limits(client_limits("gpt-4o-mini")) == (
        "5,000 requests/min (default), 2,000,000 tokens/min (default)"
    )
    assert describe_limits(client_limits("openai:gpt-4o-mini", tpm=90_000)) == (
        "5,000 requests/min (default), 90,000 tokens/min (--tpm)"
    )
    assert describe_limits(client_limits("qwen", rpm=100)) == "100 requests/min (--rpm), tokens/min unlimited"


@pytest.mark.parametrize(
    ("limited_s", "seconds", "reported"),
    [(30.0, 60.0, True), (5.0, 60.0, False), (0.5, 0.8, False), (1.5, 2.0, True)],
)
def test_binding_note_needs_a_noticeable_share(limited_s: float, seconds: float, reported: bool) -> None:
    run = TeacherRun("openai:gpt-4o", seconds=seconds, limited_s=limited_s, limits=client_limits("gpt-4o"))
    note = binding_note(run)
    assert (note is not None) == reported
    if note:
        assert f"{limited_s:.1f} s of {seconds:.1f} s" in note and "--rpm N and --tpm N" in note


def test_summary_prints_the_note_after_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    limits = client_limits("gpt-4o")
    runs = [
        TeacherRun("openai:gpt-4o", seconds=10.0, limited_s=8.0, limits=limits),
        TeacherRun("local:smollm2", seconds=10.0),
    ]
    print_summary(runs, 0.0)
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].startswith("note: openai:gpt-4o waited 8.0 s of 10.0 s (80%)")
    assert lines[-2].startswith("total:")
