"""Process supervision building blocks: stopping, restart backoff, process identity."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import psutil

from shoptools.stack.processes import Backoff, Child, ProcessSpec, is_running, started_at


def spec(tmp_path: Path, code: str, grace_s: float = 5.0) -> ProcessSpec:
    return ProcessSpec(
        "test", [sys.executable, "-c", code], tmp_path / "test.log", tmp_path, grace_s=grace_s
    )


def test_backoff_doubles_up_to_the_maximum_and_resets_after_a_healthy_spell() -> None:
    backoff = Backoff(initial=0.5, maximum=30.0, reset_after=60.0)
    delays = [backoff.next_delay(healthy_for=1.0) for _ in range(8)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff.next_delay(healthy_for=61.0) == 0.5
    assert backoff.next_delay(healthy_for=1.0) == 1.0


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    code = (
        "import signal, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        f"pathlib.Path({str(ready)!r}).touch(); time.sleep(60)"
    )

    async def scenario() -> int:
        child = Child(spec(tmp_path, code, grace_s=0.2))
        await child.start()
        while not ready.exists():
            await asyncio.sleep(0.02)
        await child.stop()
        return await child.wait()

    assert asyncio.run(scenario()) == -9


def test_stop_reaches_what_the_process_spawned(tmp_path: Path) -> None:
    grandchild = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, time, pathlib; "
        "p = subprocess.Popen(['sleep', '60']); "
        f"pathlib.Path({str(grandchild)!r}).write_text(str(p.pid)); time.sleep(60)"
    )

    async def scenario() -> int:
        child = Child(spec(tmp_path, code))
        await child.start()
        while not grandchild.exists() or not grandchild.read_text():
            await asyncio.sleep(0.02)
        await child.stop()
        return int(grandchild.read_text())

    pid = asyncio.run(scenario())
    deadline = time.monotonic() + 5
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the grandchild outlived the stop"
        time.sleep(0.02)


def test_a_recorded_process_is_recognized_by_pid_and_start_time() -> None:
    me = os.getpid()
    created = started_at(me)
    assert created is not None
    assert is_running(me, created)
    assert not is_running(me, created - 10)  # same pid, another process's start time
