"""The run lock: one writer per run (or per shard of a run); a second one is refused at once, never queued.

The lock is the kernel's advisory ``flock`` on a file in the run (``RUN/run.lock``, or
``RUN/ledger/shard-00003-of-00016.lock`` for one shard). The kernel drops it when its process ends, even
by ``kill -9``, so a lock left by a killed process is simply taken over (with a warning naming the dead
holder). The file holds the holder's details (pid, host, start time, command) for the one-line error a
refused process prints; it is emptied on a clean release and never deleted (deleting lock files races).

``filelock`` is not used because it truncates the file before it holds the lock, wiping the holder's
details whenever a second process tries.

Network filesystems: Linux emulates ``flock`` on NFS with whole-file byte-range locks that the server
arbitrates, so processes on different machines exclude each other; the lock of a machine that vanishes
is freed when its NFSv4 lease expires (90 s by default), not at once. Mounts with ``local_lock=all``,
SMB mounts with ``nobrl`` and FUSE bucket mounts (gcsfuse, s3fs, mountpoint-s3) keep locks local to each
machine or refuse them: there, give each shard to exactly one machine. A filesystem that refuses locks
outright gets a warning, and the run goes on unlocked.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shlex
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llmkd.errors import LlmkdError, warn

LOCK_FILE = "run.lock"
_HELD: dict[str, list[int]] = {}  # resolved path -> [fd, depth]: the lock is re-entrant in one process
_GUARD = threading.Lock()


class RunLocked(LlmkdError):
    """Another live process holds the run (or shard) lock."""


def holder_details() -> dict[str, Any]:
    """Who this process is, as written into a lock it holds."""
    argv = getattr(sys, "orig_argv", sys.argv)  # with `-m module` (Python >= 3.10)
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": " ".join(shlex.join([Path(argv[0]).name, *argv[1:]]).split())[:300] if argv else "",
    }


def describe_holder(details: dict[str, Any] | None) -> str:
    """``pid 123 on host-a since 2026-12-05T11:30:02Z (python -m llmkd.generate ...)``."""
    if not details:
        return "another process (its details are not written yet)"
    return (
        f"pid {details.get('pid')} on {details.get('host')} since {details.get('since')} "
        f"({details.get('command')})"
    )


def read_holder(path: str | Path) -> dict[str, Any] | None:
    """The details written in the lock file ``path`` (None when empty, missing or unreadable)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _try_flock(fd: int, path: Path) -> bool:
    """Take the lock without waiting: True when taken (or when the filesystem has no locks)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno not in {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}:
            raise
        warn(f"{path}: the filesystem refuses locks ({errno.errorcode[exc.errno]}); running unlocked")
    return True


def lock_holder(path: str | Path) -> dict[str, Any] | None:
    """The details of the live process holding the lock ``path``, or None when nobody holds it."""
    path = Path(path)
    if not path.is_file():
        return None
    key = str(path.resolve())
    if key in _HELD:
        return read_holder(path) or holder_details()
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return read_holder(path) or {}
        except OSError:
            return None
        return None
    finally:
        os.close(fd)  # closing drops the probe's shared lock


@contextmanager
def run_lock(path: str | Path, what: str = "run") -> Iterator[Path]:
    """Hold the lock file ``path`` for the block; re-entrant within one process.

    Raises:
        RunLocked: a live process holds it; the message names it (pid, host, since when, command).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = str(path.resolve())
    with _GUARD:
        if key in _HELD:
            _HELD[key][1] += 1
            acquired = False
        else:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            if not _try_flock(fd, path):
                os.close(fd)
                raise RunLocked(
                    f"{path}: this {what} is in use by {describe_holder(read_holder(path))}; "
                    "wait for it to end, or stop that process"
                )
            _HELD[key], acquired = [fd, 1], True
    if acquired:
        _take_over(fd, path)
    try:
        yield path
    finally:
        with _GUARD:
            _HELD[key][1] -= 1
            if _HELD[key][1] == 0:
                fd = _HELD.pop(key)[0]
                os.ftruncate(fd, 0)
                os.close(fd)


def _take_over(fd: int, path: Path) -> None:
    """Write this process's details into the lock it now holds, warning when a dead holder left its own."""
    left = read_holder(path)
    if left:
        warn(f"{path}: took over the lock left by {describe_holder(left)}, which is no longer running")
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(holder_details()).encode("utf-8"), 0)
    os.fsync(fd)


def run_dir_lock(run: str | Path | None) -> AbstractContextManager[Any]:
    """The lock of the run folder ``run`` (nothing to hold when it does not exist yet)."""
    if not run or not Path(run).is_dir():
        return nullcontext()
    return run_lock(Path(run) / LOCK_FILE, f"run {run}")
