"""The run lock: re-entrant in one process, refused at once to another, taken over from a killed one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from llmkd.run.lock import RunLocked, lock_holder, read_holder, run_lock

ROOT = Path(__file__).resolve().parents[2]
HOLDER = (
    "import sys, time\n"
    "from llmkd.run.lock import run_lock\n"
    "with run_lock(sys.argv[1]):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(120)\n"
)


def hold_in_subprocess(path: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_reentrant_in_one_process_and_emptied_on_release(tmp_path: Path) -> None:
    path = tmp_path / "run.lock"
    with run_lock(path):
        assert read_holder(path)["pid"] == os.getpid()
        with run_lock(path):
            assert lock_holder(path)["pid"] == os.getpid()
        assert read_holder(path)["pid"] == os.getpid()  # the inner release keeps the outer hold
    assert read_holder(path) is None and lock_holder(path) is None


def test_second_process_refused_naming_the_holder_then_stale_lock_taken_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "run.lock"
    proc = hold_in_subprocess(path)
    try:
        holder = lock_holder(path)
        assert holder is not None and holder["pid"] == proc.pid and holder["command"]
        with pytest.raises(RunLocked) as refused, run_lock(path):
            pytest.fail("a held lock was taken")
        message = str(refused.value)
        assert "\n" not in message and f"pid {proc.pid} on " in message and holder["since"] in message
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    assert read_holder(path)["pid"] == proc.pid  # the killed holder's details are still in the file
    assert lock_holder(path) is None  # but the kernel dropped its lock
    with run_lock(path):
        assert read_holder(path)["pid"] == os.getpid()
    err = capsys.readouterr().err
    assert f"took over the lock left by pid {proc.pid} on " in err
