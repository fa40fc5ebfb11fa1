"""Run-directory I/O: atomic writes (temp file + rename) and the saved resolved configuration."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llmkd.errors import RunError
from llmkd.io.secrets import scrub_config


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def shared_mode(directory: bool = False) -> int:
    """The permissions a plain ``open()`` / ``mkdir()`` would give under the current umask.

    ``tempfile`` makes 0600 files and 0700 folders; outputs renamed from them get these bits instead, so
    teammates and a serving process under another user can read a run as the umask allows.
    """
    return (0o777 if directory else 0o666) & ~_umask()


@contextmanager
def atomic_file(path: str | Path, suffix: str = ".tmp", mode: int | None = None) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed onto ``path`` when the block succeeds, removed otherwise.

    The file gets ``mode`` (default: what the umask allows, see :func:`shared_mode`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, shared_mode() if mode is None else mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """A temporary folder beside ``path``; it replaces ``path`` (and all in it) when the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        yield tmp
        # Libraries write some files owner-only (safetensors does): give everything the umask's bits.
        for inner in tmp.rglob("*"):
            os.chmod(inner, shared_mode(directory=inner.is_dir()))
        os.chmod(tmp, shared_mode(directory=True))
        old = path.with_name(f".{path.name}.old") if path.exists() else None
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
            path.rename(old)
        tmp.rename(path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_text(path: str | Path, text: str, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one, never a part
    (``mode``: the file's permissions, default what the umask allows)."""
    with atomic_file(path, mode=mode) as tmp, tmp.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def write_json(path: str | Path, data: Any, mode: int | None = None) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", mode)


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Atomically write rows as JSON lines; returns the number written."""
    lines = [json.dumps(row, ensure_ascii=False) for row in rows]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: missing (run the stage that writes it first)")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise RunError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise RunError(f"{path}:{number}: not a JSON object")
                yield record


def replace_section(document: str, name: str, section: str) -> str:
    """``document`` with the block between ``<!-- llmkd:NAME -->`` markers replaced by ``section`` (or appended)."""
    start, end = f"<!-- llmkd:{name} -->", f"<!-- /llmkd:{name} -->"
    block = f"{start}\n{section.rstrip()}\n{end}\n"
    if start in document and end in document.split(start, 1)[1]:
        before, rest = document.split(start, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        return before + block + ("\n" + after if after else "")
    if not document.strip():
        document = "# llmkd run report\n"
    return document.rstrip("\n") + "\n\n" + block


def update_report_section(run_dir: str | Path, name: str, section: str) -> Path:
    """Replace one stage's section of ``RUN/report.md``, leaving the other stages' sections alone."""
    path = Path(run_dir) / "report.md"
    current = path.read_text(encoding="utf-8") if path.is_file() else ""
    atomic_write_text(path, replace_section(current, name, section))
    return path


def save_config(run_dir: str | Path, stage: str, config: Any) -> Path:
    """Save a stage's resolved configuration (every flag and default) as ``<stage>_config.json``."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        data = dataclasses.asdict(config)
    else:
        data = dict(config)
    path = Path(run_dir) / f"{stage}_config.json"
    write_json(path, scrub_config(data))
    return path
