"""Atomic writes keep the umask's permissions (tempfile alone would leave 0600 files and 0700 folders)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmkd.run.files import atomic_dir, atomic_file, write_json


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_and_folders_follow_the_umask(tmp_path: Path, umask_022: None) -> None:
    write_json(tmp_path / "eval.json", {"a": 1})
    assert mode(tmp_path / "eval.json") == 0o644
    with atomic_dir(tmp_path / "student") as folder:
        (folder / "model.safetensors").write_bytes(b"x")
    assert mode(tmp_path / "student") == 0o755
    os.umask(0o077)
    write_json(tmp_path / "private.json", {})
    assert mode(tmp_path / "private.json") == 0o600


def test_failed_block_leaves_the_old_output_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_file(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "old.txt").write_text("old")
    with atomic_dir(folder) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in folder.iterdir()) == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf", "out.parquet"]
