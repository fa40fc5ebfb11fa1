"""Command-line plumbing shared by the stages: dataclass configs become argparse flags with help text."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from llmkd.errors import ConfigError, LlmkdError
from llmkd.io.secrets import scrub_secrets

C = TypeVar("C")


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends a flag's default to its help unless the default is None or empty, or the help already
    names it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, "", [], ()) or action.required or "default" in text.lower():
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """A missing required flag is a one-line :class:`ConfigError` naming the flag and what it is for."""

    required_help: dict[str, str]

    def error(self, message: str) -> typing.NoReturn:  # type: ignore[override]
        prefix = "the following arguments are required: "
        if not message.startswith(prefix):
            super().error(message)
        flags = [f.strip() for f in message[len(prefix) :].split(",")]
        what = "; ".join(
            f"{f} is required ({self.required_help[f]})" if self.required_help.get(f) else f"{f} is required"
            for f in flags
        )
        raise ConfigError(f"{what}; see {self.prog} --help")


def build_parser(config_cls: type[Any], prog: str, description: str) -> argparse.ArgumentParser:
    """An argparse parser with one ``--flag-name`` per dataclass field; help from ``metadata['help']``.

    A field with ``metadata['required']`` is a required flag, listed under "required flags" in ``--help``.
    """
    parser = _Parser(prog=prog, description=description, formatter_class=_HelpFormatter)
    parser.required_help = {}
    required = parser.add_argument_group("required flags")
    hints = typing.get_type_hints(config_cls)
    # The class's own flags first, then those of each class it extends, nearest first (the input columns
    # come last).
    depth: dict[str, int] = {}
    for level, cls in enumerate(config_cls.__mro__):
        for name in vars(cls).get("__annotations__", {}):
            depth.setdefault(name, level)
    for f in sorted(dataclasses.fields(config_cls), key=lambda f: depth.get(f.name, 0)):
        if f.metadata.get("cli") is False:
            continue
        flag = "--" + f.name.replace("_", "-")
        tp, _ = _unwrap_optional(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        help_text = str(f.metadata.get("help", "")).replace("%", "%%")  # argparse formats help with %
        kwargs: dict[str, Any] = {"dest": f.name, "help": help_text, "default": default}
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif get_origin(tp) is list:
            (inner,) = get_args(tp)
            kwargs.update(action="append", type=inner, default=None)
            kwargs["help"] += " (repeatable" + (
                f"; default: {', '.join(map(str, default))})" if default else ")"
            )
        elif get_origin(tp) is Literal:
            kwargs.update(choices=list(get_args(tp)), type=type(get_args(tp)[0]))
        else:
            kwargs["type"] = tp
        if "metavar" in f.metadata:
            kwargs["metavar"] = f.metadata["metavar"]
        if f.metadata.get("required"):
            required.add_argument(flag, required=True, **kwargs)
            parser.required_help[flag] = f.metadata.get("help", "").split(":")[0].split(". ")[0].rstrip(".")
        else:
            parser.add_argument(flag, **kwargs)
    return parser


def parse_config(config_cls: type[C], argv: Sequence[str] | None, prog: str, description: str) -> C:
    """Parse ``argv`` into ``config_cls`` (list flags not given keep their defaults)."""
    parser = build_parser(config_cls, prog, description)
    namespace = vars(parser.parse_args(argv))
    values = {}
    for f in dataclasses.fields(config_cls):  # type: ignore[arg-type]
        if f.name not in namespace:
            continue
        value = namespace[f.name]
        if value is None and f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        values[f.name] = value
    return config_cls(**values)


def given_flags(config_cls: type[Any], argv: Sequence[str] | None) -> set[str]:
    """The fields of ``config_cls`` whose flags ``argv`` gives (the others hold their defaults)."""
    parser = build_parser(config_cls, "", "")
    for action in parser._actions:
        action.default = argparse.SUPPRESS  # so only the flags given land in the namespace
        action.required = False
    namespace, _ = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    return set(vars(namespace))


def _progress_bar_open() -> bool:
    """Whether a tqdm bar is still open (its line on the terminal not yet ended)."""
    std = sys.modules.get("tqdm.std")
    if std is None:
        return False
    classes, seen = [std.tqdm], []
    while classes:
        cls = classes.pop()
        seen.append(cls)
        classes.extend(cls.__subclasses__())
    return any(not getattr(bar, "disable", True) for cls in seen for bar in vars(cls).get("_instances", ()))


def run_cli(main: Callable[[], int | None]) -> None:
    """Run a stage's main: user errors print one line and exit 2; Ctrl-C exits 130."""
    try:
        code = main()
    except LlmkdError as exc:
        print(f"error: {scrub_secrets(str(exc))}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        if _progress_bar_open():
            print(file=sys.stderr)  # the bar's line has no newline yet
        print(
            "interrupted: everything already written is kept; rerun the same command to resume.",
            file=sys.stderr,
        )
        sys.exit(130)
    sys.exit(code or 0)


def read_yaml_config(path: str, flag: str = "--config") -> Any:
    """The parsed YAML file given to ``flag`` (an empty file is ``{}``).

    Raises:
        ConfigError: the file is missing or not valid YAML (the message names the flag and the file).
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{flag} {path}: no such file")
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{flag} {path}: not valid YAML: {str(exc).splitlines()[0]}") from None
