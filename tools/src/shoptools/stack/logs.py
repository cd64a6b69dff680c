"""Every component's log: a size cap with rotation, and `shop logs` (tail, follow).

Each process writes its own log file, opened for appending (O_APPEND), so the supervisor
can rotate it without the process' help: it copies a file that outgrew the cap to
`<name>.log.1` (shifting older copies up to `.log.<KEPT>`) and truncates the original;
the process' next write lands at the new end, the start of the file. A line written
between the copy and the truncation is lost; a log can exceed the cap by what is written
between two checks. Neither matters for a local stack's logs, unlike a full disk.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections import deque
from pathlib import Path
from typing import TextIO

MAX_LOG_BYTES = 10 * 1024 * 1024  # per component; a flood of access logs stays within it
KEPT_ROTATIONS = 2  # <name>.log.1 (newest) and <name>.log.2: at most 30 MB per component
CHECK_INTERVAL_S = 1.0
FOLLOW_POLL_S = 0.2


# --- rotation (the supervisor) ------------------------------------------------------------
def rotated(path: Path, generation: int) -> Path:
    return path.with_name(f"{path.name}.{generation}")


def rotate_if_large(path: Path, max_bytes: int = MAX_LOG_BYTES, keep: int = KEPT_ROTATIONS) -> bool:
    """Rotate `path` when it holds more than `max_bytes`; whether it did."""
    try:
        if path.stat().st_size <= max_bytes:
            return False
    except FileNotFoundError:
        return False
    for generation in range(keep, 1, -1):
        older = rotated(path, generation - 1)
        if older.exists():
            os.replace(older, rotated(path, generation))
    shutil.copyfile(path, rotated(path, 1))
    os.truncate(path, 0)
    return True


def rotate_logs(log_dir: Path, max_bytes: int = MAX_LOG_BYTES, keep: int = KEPT_ROTATIONS) -> None:
    for path in log_dir.glob("*.log"):
        rotate_if_large(path, max_bytes, keep)


async def keep_logs_small(log_dir: Path) -> None:
    """Check every log's size every CHECK_INTERVAL_S, for as long as the stack runs."""
    while True:
        await asyncio.to_thread(rotate_logs, log_dir)
        await asyncio.sleep(CHECK_INTERVAL_S)


# --- reading (shop logs) ------------------------------------------------------------------
def log_files(log_dir: Path) -> dict[str, Path]:
    """The current log of every component, by component name (rotated copies left out)."""
    return {path.stem: path for path in sorted(log_dir.glob("*.log"))}


def tail(path: Path, lines: int) -> str:
    """The last `lines` lines, reaching into the newest rotated copy when the log has just
    been rotated."""
    newest = _last_lines(path, lines)
    if newest is None:
        return f"({path} does not exist)"
    if len(newest) < lines:
        older = _last_lines(rotated(path, 1), lines - len(newest)) or []
        newest = older + newest
    return "".join(newest).rstrip("\n")


def _last_lines(path: Path, lines: int) -> list[str] | None:
    try:
        with path.open(errors="replace") as f:
            return list(deque(f, maxlen=lines)) if lines > 0 else []
    except FileNotFoundError:
        return None


class Follower:
    """New lines of one log, across rotations: a truncated file is read again from its
    start, a replaced one is reopened."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: TextIO | None = None
        self._inode = 0
        self._partial = ""
        self._open(at_end=True)

    def _open(self, *, at_end: bool) -> None:
        try:
            handle = self.path.open(errors="replace")
        except FileNotFoundError:
            return
        if self._handle is not None:
            self._handle.close()
        self._handle = handle
        self._inode = os.fstat(handle.fileno()).st_ino
        if at_end:
            handle.seek(0, os.SEEK_END)

    def new_lines(self) -> list[str]:
        try:
            now = self.path.stat()
        except FileNotFoundError:
            return []
        if self._handle is None or now.st_ino != self._inode:
            self._open(at_end=False)
        elif now.st_size < self._handle.tell():
            self._handle.seek(0)  # truncated by a rotation: what is there now is new
        if self._handle is None:
            return []
        text = self._partial + self._handle.read()
        *complete, self._partial = text.split("\n")
        return complete

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def show_logs(
    log_dir: Path, component: str | None, *, follow: bool, lines: int, out: TextIO
) -> int:
    files = log_files(log_dir)
    if component is not None:
        if component not in files:
            known = ", ".join(files) or "none yet"
            print(f"no log for {component!r}; logs: {known}", file=sys.stderr)
            return 2
        files = {component: files[component]}
    prefix = len(files) > 1
    for name, path in files.items():
        for line in tail(path, lines).splitlines():
            print(f"{name:<18} | {line}" if prefix else line, file=out)
    out.flush()
    if follow:
        _follow(files, prefix, out)
    return 0


def _follow(files: dict[str, Path], prefix: bool, out: TextIO) -> None:
    followers = {name: Follower(path) for name, path in files.items()}
    try:
        while True:
            quiet = True
            for name, follower in followers.items():
                for line in follower.new_lines():
                    quiet = False
                    print(f"{name:<18} | {line}" if prefix else line, file=out)
            out.flush()
            if quiet:
                time.sleep(FOLLOW_POLL_S)
    except KeyboardInterrupt:
        pass
    finally:
        for follower in followers.values():
            follower.close()
