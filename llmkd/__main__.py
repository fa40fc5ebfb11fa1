"""``llmkd STAGE [flags]`` (or ``python -m llmkd STAGE``): run one pipeline stage."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from llmkd.cli import run_cli

STAGES = {
    "run": ("--input FILE --teacher T", "generate, filter, finetune (+ evaluate: --eval FILE) in one go"),
    "generate": ("--input FILE [--run DIR]", "label texts with teachers"),
    "filter": ("--run DIR", "dedup, score and filter teacher labels"),
    "export": (
        "--run DIR --format F",
        "export the kept set (hf, parquet, jsonl, openai-chat) or student (onnx)",
    ),
    "finetune": ("--run DIR", "distil into a small student"),
    "evaluate": ("--run DIR --gold FILE", "student vs teacher vs gold"),
    "predict": ("--run DIR --input F --output F", "label new texts (student, or student + teacher cascade)"),
    "review": ("export|import --run DIR", "export doubtful records for review; import gold labels"),
    "demo": ("", "the whole pipeline on the embedded models and the demo sample"),
}

MODULES = {"run": "llmkd.pipeline", "demo": "llmkd.demo.__main__"}  # the others: llmkd.<stage>


def usage() -> str:
    lines = ["usage: llmkd STAGE [flags]   (also: python -m llmkd STAGE; each stage takes --help)", ""]
    lines += [f"  llmkd {name:<9} {args:<31} {what}" for name, (args, what) in STAGES.items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch to ``llmkd.<stage>.main``; no or an unknown stage prints the usage and exits 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in {"-h", "--help"}:
        print(usage())
        return 0
    if not args or args[0] not in STAGES:
        problem = f"unknown stage {args[0]!r}" if args else "no stage given"
        print(f"{usage()}\n\nerror: {problem}", file=sys.stderr)
        return 2
    module = importlib.import_module(MODULES.get(args[0], f"llmkd.{args[0]}"))
    return int(module.main(args[1:]) or 0)


def console() -> None:
    """The ``llmkd`` console command."""
    run_cli(main)


if __name__ == "__main__":
    console()
