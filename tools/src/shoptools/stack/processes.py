"""Starting, watching and stopping the stack's processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: list[str]
    log_file: Path  # stdout and stderr, appended across restarts
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)  # on top of the supervisor's own
    grace_s: float = 5.0  # between SIGTERM and SIGKILL


class Child:
    """One supervised process, restartable. Each start gets its own session, so a Ctrl-C at
    the terminal reaches only the supervisor, which then stops everything in order."""

    def __init__(self, spec: ProcessSpec) -> None:
        self.spec = spec
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        self.spec.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.spec.log_file.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                *self.spec.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                cwd=self.spec.cwd,
                env={**os.environ, **self.spec.env},
                start_new_session=True,
            )

    async def wait(self) -> int:
        """Until the process exits; its exit status (negative: killed by that signal)."""
        assert self._process is not None, "not started"
        return await self._process.wait()

    async def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after the grace period."""
        if not self.running:
            return
        assert self._process is not None
        _signal_group(self._process.pid, signal.SIGTERM)
        try:
            async with asyncio.timeout(self.spec.grace_s):
                await self._process.wait()
        except TimeoutError:
            _signal_group(self._process.pid, signal.SIGKILL)
            await self._process.wait()


class Backoff:
    """Delay before a restart: `initial`, doubling per consecutive crash up to `maximum`;
    a process that stayed healthy for `reset_after` seconds starts again from `initial`."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0, reset_after: float = 60.0):
        self.initial = initial
        self.maximum = maximum
        self.reset_after = reset_after
        self._crashes = 0

    def next_delay(self, healthy_for: float) -> float:
        if healthy_for >= self.reset_after:
            self._crashes = 0
        delay = min(self.maximum, self.initial * 2.0**self._crashes)
        self._crashes += 1
        return delay


def started_at(pid: int) -> float | None:
    """The process's creation time, which tells it apart from a later process that got the
    same pid; None when no such process exists."""
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.NoSuchProcess:
        return None


def is_running(pid: int, created: float) -> bool:
    """The process recorded as (pid, created) still runs: same pid, same start time."""
    now = started_at(pid)
    return now is not None and abs(now - created) < 0.1 and not _is_zombie(pid)


def terminate(pid: int, grace_s: float) -> None:
    """Stop a process we did not start in this run (a stale supervisor's), by pid."""
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or _is_zombie(pid):
            return
        time.sleep(0.05)
    _signal_group(pid, signal.SIGKILL)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # Every child leads its own session and process group; signalling the group also
    # reaches anything it spawned.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _is_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
