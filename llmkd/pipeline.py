"""``llmkd run``: generate -> filter -> finetune (-> evaluate) on your own file, in one command.

llmkd run --input news.csv --text-column headline --teacher gpt-4o-mini --eval gold.csv

Each stage runs exactly as ``llmkd STAGE`` would with the flags printed above its output (so any step can
be rerun alone); its progress, warnings and errors are its own. Generate's flags are given directly, the
other stages' through ``--filter-args`` / ``--finetune-args`` / ``--evaluate-args`` or the sections of a
``--config`` pipeline YAML. Every stage's flags are checked before generate starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmkd import evaluate, filter, finetune, generate
from llmkd.cli import build_parser, parse_config, read_yaml_config, run_cli
from llmkd.errors import ConfigError
from llmkd.evaluation.config import EvaluateConfig
from llmkd.filtering.config import FilterConfig
from llmkd.generation.config import GenerateConfig
from llmkd.training.config import FinetuneConfig

DESCRIPTION = (
    "Label --input with --teacher, filter, distil a student and (with --eval FILE) score it: each stage as "
    "`llmkd STAGE` runs it, its command printed first. Needs --input and --teacher (default: local). "
    "Generate's flags follow the pipeline's own."
)

SECTIONS: dict[str, type[Any]] = {
    "generate": GenerateConfig,
    "filter": FilterConfig,
    "finetune": FinetuneConfig,
    "evaluate": EvaluateConfig,
}


@dataclass
class PipelineConfig(GenerateConfig):
    """Flags of ``llmkd run``: the pipeline's own, then every flag of ``llmkd generate``."""

    eval: str | None = field(
        default=None,
        metadata={
            "help": "Gold-labelled file to score the student on (evaluate --gold; also kept out of training "
            "with filter --exclude). Read with the column flags below unless --evaluate-args says otherwise.",
            "metavar": "FILE",
        },
    )
    config: str | None = field(
        default=None,
        metadata={
            "help": "Pipeline YAML with generate:, filter:, finetune: and evaluate: sections of flag: value "
            "pairs (e.g. 'finetune: {epochs: 8}'); flags on the command line win.",
            "metavar": "YAML",
        },
    )
    student: str | None = field(
        default=None, metadata={"help": "finetune --student (default: minilm, the embedded MiniLM-L6)."}
    )
    epochs: int | None = field(
        default=None, metadata={"help": "finetune --epochs (default: scaled to the data size)."}
    )
    max_length: int | None = field(
        default=None,
        metadata={"help": "finetune --max-length: tokens per text the student reads (default 64)."},
    )
    min_confidence: float | None = field(
        default=None, metadata={"help": "filter --min-confidence (default 0.5)."}
    )
    filter_args: str | None = field(
        default=None,
        metadata={"help": "More filter flags, quoted: '--max-per-label 500 --balance'.", "metavar": "ARGS"},
    )
    finetune_args: str | None = field(
        default=None, metadata={"help": "More finetune flags, quoted: '--full --lr 5e-5'.", "metavar": "ARGS"}
    )
    evaluate_args: str | None = field(
        default=None,
        metadata={"help": "More evaluate flags, quoted: '--text-column sentence'.", "metavar": "ARGS"},
    )


def as_flags(values: Mapping[str, Any]) -> list[str]:
    """``{'min_confidence': 0.6, 'balance': True, 'exclude': [a, b]}`` -> ``--min-confidence 0.6 --balance
    --exclude a --exclude b`` (None values are left out)."""
    flags: list[str] = []
    for name, value in values.items():
        flag = "--" + str(name).replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, list):
            flags += [part for item in value for part in (flag, str(item))]
        else:
            flags += [flag, str(value)]
    return flags


def load_sections(path: str) -> dict[str, dict[str, Any]]:
    """The stage sections of a pipeline YAML, keys as field names, each checked against its stage's flags.

    Raises:
        ConfigError: the file is missing or not YAML, or names an unknown section or flag.
    """
    data = read_yaml_config(path)
    if not isinstance(data, dict):
        raise ConfigError(f"--config {path}: expected sections generate:, filter:, finetune:, evaluate:")
    sections: dict[str, dict[str, Any]] = {}
    for name, body in data.items():
        if name not in SECTIONS or not isinstance(body, dict):
            raise ConfigError(
                f"--config {path}: {name!r} is not one of {', '.join(SECTIONS)} with flag: value pairs"
            )
        known = {f.name for f in dataclasses.fields(SECTIONS[name])} - {"run"}
        values = {str(k).replace("-", "_"): v for k, v in body.items()}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"--config {path}: {name}: unknown flag {unknown[0]!r} (see llmkd {name} --help)"
            )
        sections[name] = values
    return sections


PASSTHROUGH = ("--filter-args", "--finetune-args", "--evaluate-args")


def _joined(argv: Sequence[str]) -> list[str]:
    """``--filter-args '--balance'`` as ``--filter-args=--balance`` (argparse takes a value starting with
    ``--`` for a flag)."""
    out: list[str] = []
    tokens = iter(argv)
    for token in tokens:
        out.append(f"{token}={next(tokens, '')}" if token in PASSTHROUGH else token)
    return out


def parse_pipeline(argv: Sequence[str] | None) -> tuple[PipelineConfig, dict[str, dict[str, Any]]]:
    """Flags > the ``--config`` YAML's ``generate:`` section > defaults; also returns the YAML's sections."""
    argv = _joined(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    sections = load_sections(known.config) if known.config else {}
    parser = build_parser(PipelineConfig, "llmkd run", DESCRIPTION)
    from_yaml = sections.get("generate", {})
    lists = {
        f.name for f in dataclasses.fields(PipelineConfig) if f.default_factory is not dataclasses.MISSING
    }
    parser.set_defaults(**{k: v for k, v in from_yaml.items() if k not in lists})
    for action in parser._actions:
        if action.dest in from_yaml:
            action.required = False  # the YAML gives it (e.g. input:)
    values = vars(parser.parse_args(argv))
    for name in lists:  # a list flag given on the command line replaces the YAML's, not adds to it
        if values.get(name) is None:
            values[name] = from_yaml.get(name) or getattr(PipelineConfig(), name)
    return PipelineConfig(**values), sections


def stage_argv(
    config: PipelineConfig, sections: dict[str, dict[str, Any]], run_dir: Path
) -> dict[str, list[str] | None]:
    """The flags each later stage runs with (None: evaluate does not run)."""
    run = ["--run", str(run_dir)]
    gold = config.eval or sections.get("evaluate", {}).get("gold")
    exclude = ["--exclude", str(gold)] if gold else []
    shortcuts = {"student": config.student, "epochs": config.epochs, "max_length": config.max_length}
    return {
        "filter": [
            *run,
            *as_flags(sections.get("filter", {})),
            *as_flags({"min_confidence": config.min_confidence}),
            *exclude,
            *shlex.split(config.filter_args or ""),
        ],
        "finetune": [
            *run,
            *as_flags(sections.get("finetune", {})),
            *as_flags(shortcuts),
            *shlex.split(config.finetune_args or ""),
        ],
        "evaluate": [
            *run,
            *as_flags(sections.get("evaluate", {})),
            *as_flags({"gold": config.eval}),
            *shlex.split(config.evaluate_args or ""),
        ]
        if gold
        else None,
    }


def check_stage_flags(argvs: Mapping[str, list[str] | None]) -> None:
    """Parse every later stage's flags now, so a typo stops the pipeline before any teacher is paid."""
    filter.parse_args(argvs["filter"])
    parse_config(FinetuneConfig, argvs["finetune"], "llmkd finetune", "")
    if argvs["evaluate"] is not None:
        parse_config(EvaluateConfig, argvs["evaluate"], "llmkd evaluate", "")


def _stage(name: str, main: Callable[[list[str]], int], argv: list[str]) -> None:
    """Run one stage as ``llmkd NAME ARGV`` would, its command printed first."""
    print(f"\n=== llmkd {name} {shlex.join(argv)}", flush=True)
    code = main(argv)
    if code:
        raise SystemExit(code)


def run_pipeline(config: PipelineConfig, sections: dict[str, dict[str, Any]]) -> Path:
    """Generate, filter, finetune and (with ``--eval``) evaluate; returns the run directory.

    Raises:
        LlmkdError: whatever a stage raises (the pipeline stops at that stage).
    """
    own = {f.name for f in dataclasses.fields(GenerateConfig)}
    gen = GenerateConfig(**{k: v for k, v in vars(config).items() if k in own})
    if not gen.input:
        raise ConfigError("--input is required (a file or hf:NAME); see llmkd run --help")
    run_dir = Path(gen.run) if gen.run else generate.default_run_dir(gen)
    gen.run = str(run_dir)
    argvs = stage_argv(config, sections, run_dir)
    check_stage_flags(argvs)
    defaults = dataclasses.asdict(GenerateConfig())
    changed = {k: v for k, v in dataclasses.asdict(gen).items() if v != defaults[k]}
    _stage("generate", generate.main, as_flags(changed))
    if gen.dry_run or gen.audit_only:  # the plan, or the gold seed's audit, only
        return run_dir
    for name, main in (("filter", filter.main), ("finetune", finetune.main), ("evaluate", evaluate.main)):
        argv = argvs[name]
        if argv is not None:
            _stage(name, main, argv)
    print(f"\nllmkd run: done; the run is in {run_dir} (report: {run_dir / 'report.md'})")
    return run_dir


def main(argv: list[str] | None = None) -> int:
    config, sections = parse_pipeline(argv)
    run_pipeline(config, sections)
    return 0


if __name__ == "__main__":
    run_cli(lambda: main())
