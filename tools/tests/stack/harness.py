"""Running isolated stacks in tests: a free base port and a private state directory each,
the real `shop` command, and ways to find every process a stack left behind."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from shoptools.stack import runfile
from shoptools.stack.postgres import Postgres
from shoptools.stack.runfile import RunState
from shoptools.topology import Topology, one_of_each

ROOT = Path(__file__).resolve().parents[3]  # the checkout: `shop` finds the mesh policy there


@contextlib.contextmanager
def isolated_topology(**services: int) -> Iterator[Topology]:
    # Not pytest's tmp_path: the PostgreSQL socket lives in the data directory, and a Unix
    # socket path must stay short (about 100 bytes).
    path = Path(tempfile.mkdtemp(prefix="shop-test-"))
    try:
        # `shop up` runs every service, one instance each unless told otherwise.
        shape = {k: n for k, n in {**one_of_each(), **services}.items() if n}
        yield Topology(state_dir=path, services=shape).with_free_ports()
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class Stack:
    topology: Topology
    output: str  # what `shop up` printed


def shop(topology: Topology, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shoptools.shop", *args, "--state-dir", str(topology.state_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@contextlib.contextmanager
def running_stack(topology: Topology) -> Iterator[Stack]:
    """`shop up`; `shop down` (and a pg_ctl stop) however it ends."""
    try:
        up = shop(topology, "up", "--base-port", str(topology.base_port))
        assert up.returncode == 0, up.stdout + up.stderr
        yield Stack(topology, up.stdout)
    finally:
        shop(topology, "down")
        Postgres(topology).stop()


def run_state(topology: Topology) -> RunState:
    state = runfile.load(topology.run_file)
    assert state is not None, "no run file"
    return state


def recorded_pids(state: RunState) -> set[int]:
    pids = {c.pid for c in state.components if c.pid is not None}
    return {state.supervisor_pid, *pids}


def stack_processes(topology: Topology) -> list[str]:
    """Live processes that belong to the stack: they run in (or name) its state directory,
    or take one of its ports as an argument."""
    state_dir = str(topology.state_dir)
    ports = {str(p) for p in range(topology.base_port, topology.web_port + 1)}
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cmdline: list[str] = proc.info["cmdline"] or []
        cwd: str = proc.info["cwd"] or ""
        if (
            cwd.startswith(state_dir)
            or any(state_dir in arg for arg in cmdline)
            or ports & set(cmdline)
        ):
            found.append(f"{proc.info['pid']}: {' '.join(cmdline)}")
    return found


def alive(pids: set[int]) -> set[int]:
    def running(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    return {pid for pid in pids if running(pid)}
