"""The stages' shared command line: required flags, defaults in --help, Ctrl-C beside a progress bar."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from tqdm import tqdm

from llmkd import export, generate
from llmkd.cli import build_parser, run_cli
from llmkd.errors import ConfigError
from llmkd.filtering.config import FilterConfig


@dataclass
class _Config:
    run: str | None = field(default=None, metadata={"help": "Run directory.", "required": True})
    note: str = field(default="", metadata={"help": "A note."})
    name: str = field(default="x", metadata={"help": "A name."})


def _help(config_cls: type, prog: str = "prog") -> str:
    return build_parser(config_cls, prog, "d").format_help()


def test_required_flags_are_marked_and_enforced(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(_Config)
    assert "usage: prog [-h] --run RUN" in text  # not in [brackets]
    assert "required flags:\n  --run RUN" in text
    with pytest.raises(ConfigError) as err:  # a one-line error (exit 2 under run_cli), not argparse's usage
        build_parser(_Config, "prog", "d").parse_args([])
    assert str(err.value) == "--run is required (Run directory); see prog --help"
    with pytest.raises(SystemExit):  # other argparse errors are left alone
        build_parser(_Config, "prog", "d").parse_args(["--run", "r", "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("config_cls", "flag"),
    [(generate.GenerateConfig, "--input"), (FilterConfig, "--run"), (export.ExportConfig, "--run")],
)
def test_stage_flags_required_in_help(config_cls: type, flag: str) -> None:
    text = _help(config_cls)
    assert f"required flags:\n  {flag} " in text
    assert f"[{flag} " not in text


def test_empty_defaults_are_not_shown() -> None:
    text = " ".join(_help(_Config).split())
    assert "A note." in text and "(default: )" not in text
    assert "A name. (default: x)" in text
    for config_cls in (generate.GenerateConfig, FilterConfig, export.ExportConfig):
        assert "(default: )" not in _help(config_cls)


def test_generate_device_defaults_to_auto() -> None:
    assert generate.GenerateConfig(input="x").device == "auto"
    assert "'auto': cuda when available" in " ".join(_help(generate.GenerateConfig).split())


def test_interrupted_message_starts_on_its_own_line(capsys: pytest.CaptureFixture[str]) -> None:
    bar = tqdm(total=10, desc="train")

    def main() -> int:
        bar.update(3)
        raise KeyboardInterrupt

    try:
        with pytest.raises(SystemExit) as exit_info:
            run_cli(main)
    finally:
        bar.close()
    assert exit_info.value.code == 130
    err = capsys.readouterr().err
    assert "train" in err and "\ninterrupted: everything already written is kept" in err


def test_interrupted_without_a_bar_prints_no_blank_line(capsys: pytest.CaptureFixture[str]) -> None:
    def main() -> int:
        with tqdm(total=2, desc="done") as bar:
            bar.update(2)
        raise KeyboardInterrupt

    with pytest.raises(SystemExit):
        run_cli(main)
    err = capsys.readouterr().err
    assert "\n\ninterrupted" not in err and "\ninterrupted" in err
