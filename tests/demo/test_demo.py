"""The demo's closing summary: the scores once (evaluate prints them), then the stage times."""

from __future__ import annotations

from pathlib import Path

import pytest

import llmkd.demo.__main__ as demo
from llmkd import evaluate, filter, finetune, generate


def test_scores_are_printed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []

    def fake(name: str):
        def main(argv: list[str]) -> int:
            calls.append(name)
            if name == "evaluate":
                (tmp_path / "eval.json").write_text("{}", encoding="utf-8")
                print("SCORES TABLE")  # what evaluate prints at its end
            return 0

        return main

    for module in (generate, filter, finetune, evaluate):
        monkeypatch.setattr(module, "main", fake(module.__name__.split(".")[-1]))
    monkeypatch.setattr(demo, "summary_table", lambda report: "SCORES TABLE", raising=False)
    assert demo.main(["--run", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert calls == ["generate", "generate", "filter", "finetune", "evaluate"]
    assert out.count("SCORES TABLE") == 1
    assert "stage times: generate" in out and f"report: {tmp_path / 'report.md'}" in out
