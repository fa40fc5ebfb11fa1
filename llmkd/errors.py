"""Errors a user can cause. The CLI prints them in one line, without a traceback; warnings go on stderr."""

from __future__ import annotations

import sys
from pathlib import Path


def warn(message: str) -> None:
    """One ``warning: ...`` line on stderr (the run goes on)."""
    print(f"warning: {message}", file=sys.stderr)


class LlmkdError(Exception):
    """Base class for every error caused by input, configuration or the environment."""


class InputError(LlmkdError):
    """Bad input data: names the file and, where known, the line."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        where = ""
        if self.path is not None:
            where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        super().__init__(f"{where}{message}")


class TaskError(LlmkdError):
    """A malformed task definition: names the file, the line where known, and the field."""

    def __init__(
        self, message: str, path: str | Path, field: str | None = None, line: int | None = None
    ) -> None:
        self.path = str(path)
        self.field = field
        self.line = line
        where = f"{self.path}:{line}: " if line is not None else f"{self.path}: "
        super().__init__(f"{where}field '{field}': {message}" if field else f"{where}{message}")


class ConfigError(LlmkdError):
    """A bad flag or combination of flags."""


class TeacherError(LlmkdError):
    """A teacher cannot be built or reached (unknown name, missing key, refused by policy)."""


class RunError(LlmkdError):
    """A run directory is missing a file a stage needs, or holds something inconsistent."""


class BudgetExceeded(LlmkdError):
    """The next request would pass --max-cost-usd; the run stays resumable."""
