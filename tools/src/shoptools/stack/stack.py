"""The stack as a person drives it: up (detached or in the foreground), down.

What runs in the stack's processes is handed in (the supervisor's command line, its mesh
setup), and so is what to print once it is ready: shoptools.shop puts the pieces together.
"""

from __future__ import annotations

import asyncio
import io
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from shoptools.stack import runfile
from shoptools.stack.logs import tail
from shoptools.stack.postgres import Postgres
from shoptools.stack.processes import is_running, terminate
from shoptools.stack.runfile import RunState
from shoptools.stack.supervisor import Supervisor
from shoptools.topology import Topology

POLL_S = 0.05
STALE_GRACE_S = 10.0  # for a leftover process when its supervisor is gone
LOG_TAIL = 25

OnReady = Callable[[float], None]  # prints what to do with the stack; gets the time taken


# --- up -----------------------------------------------------------------------------------
class Progress:
    """One line per component as it becomes healthy or fails: name, address, time taken."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.shown: set[str] = set()

    def update(self, state: RunState) -> None:
        for c in state.components:
            if c.name in self.shown:
                continue
            if c.state in (runfile.HEALTHY, runfile.DONE):
                took = f"{c.startup_s:6.2f} s" if c.startup_s is not None else ""
                self._line(f"  ok    {c.name:<24} {c.address:<30} {took}")
            elif c.state == runfile.FAILED:
                self._line(f"  FAIL  {c.name:<24} {c.detail}")
            else:
                continue
            self.shown.add(c.name)

    def _line(self, text: str) -> None:
        print(text.rstrip(), file=self.out, flush=True)


def up_detached(
    topology: Topology, supervise: Sequence[str], on_ready: OnReady, out: TextIO
) -> int:
    """Start the supervisor (the command line `supervise`) in its own session and follow its
    run file until the stack is healthy (exit 0, leaving it running) or startup fails (exit
    1, nothing left running). The caller has made sure no stack runs in its state dir."""
    began = time.monotonic()
    clean_up_after_a_lost_supervisor(topology, out)
    topology.log_dir.mkdir(parents=True, exist_ok=True)
    print(f"Starting the stack (state in {shown(topology.state_dir)})", file=out, flush=True)
    with (topology.log_dir / "supervisor.log").open("ab") as log:
        supervisor = subprocess.Popen(
            list(supervise),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    progress = Progress(out)
    try:
        while True:
            state = runfile.load(topology.run_file)
            if state is not None and state.supervisor_pid == supervisor.pid:
                progress.update(state)
                if state.state == runfile.STACK_READY:
                    on_ready(time.monotonic() - began)
                    return 0
            if supervisor.poll() is not None:
                _report_failure(topology, state, out)
                # It stopped what it had started; make sure, and forget the run.
                down(topology, io.StringIO())
                return 1
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        print("interrupted: stopping the stack", file=out, flush=True)
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait()
        topology.run_file.unlink(missing_ok=True)
        return 130


def up_foreground(supervisor: Supervisor, on_ready: OnReady, out: TextIO) -> int:
    """Supervise in this process; Ctrl-C (or SIGTERM) stops everything. The caller has made
    sure no stack runs in its state dir."""
    began = time.monotonic()
    topology = supervisor.topology
    clean_up_after_a_lost_supervisor(topology, out)
    topology.log_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(topology.log_dir / "supervisor.log", echo_warnings=True)
    progress = Progress(out)
    printed_ready = False

    def on_change(state: RunState) -> None:
        nonlocal printed_ready
        progress.update(state)
        if state.state == runfile.STACK_READY and not printed_ready:
            printed_ready = True
            on_ready(time.monotonic() - began)
            print("Running in the foreground; Ctrl-C stops everything.", file=out, flush=True)

    supervisor.on_change = on_change
    status = asyncio.run(supervisor.run())
    if status != 0:
        _report_failure(topology, runfile.load(topology.run_file), out)
        topology.run_file.unlink(missing_ok=True)  # everything it started is stopped
        return 1
    print("Stopped.", file=out)
    return 0


def supervise(supervisor: Supervisor) -> int:
    """The detached supervisor (`shop supervise`); its output is supervisor.log."""
    configure_logging(None, echo_warnings=False)
    return asyncio.run(supervisor.run())


def configure_logging(log_file: Path | None, *, echo_warnings: bool) -> None:
    handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stdout)
    handlers: list[logging.Handler] = [handler]
    if echo_warnings:
        echo = logging.StreamHandler(sys.stderr)
        echo.setLevel(logging.WARNING)
        handlers.append(echo)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )


def running(topology: Topology) -> RunState | None:
    """The run state of the stack in topology.state_dir, if its supervisor runs."""
    state = runfile.load(topology.run_file)
    if state is not None and is_running(state.supervisor_pid, state.supervisor_created):
        return state
    return None


def clean_up_after_a_lost_supervisor(topology: Topology, out: TextIO) -> None:
    """Stop what a supervisor killed with -9 left behind, before starting afresh."""
    state = runfile.load(topology.run_file)
    if state is not None or Postgres(topology).pid() is not None:
        print("Cleaning up after a stack whose supervisor is gone.", file=out)
        down(topology, out)


def _report_failure(topology: Topology, state: RunState | None, out: TextIO) -> None:
    supervisor_log = topology.log_dir / "supervisor.log"
    if state is None or state.state != runfile.STACK_FAILED:
        print("The supervisor exited before the stack was up; its log:", file=out)
        print(tail(supervisor_log, LOG_TAIL), file=out)
    else:
        print(f"Startup failed at {state.failed}: {state.error}", file=out)
        failed = next((c for c in state.components if c.name == state.failed), None)
        if failed is not None and failed.log:
            print(f"--- last lines of {shown(Path(failed.log))} ---", file=out)
            print(tail(Path(failed.log), LOG_TAIL), file=out)


# --- down ---------------------------------------------------------------------------------
def down(topology: Topology, out: TextIO) -> int:
    """Stop the supervisor (which stops everything in reverse order), then anything the run
    file still names that is alive (a supervisor killed with -9 leaves those), then postgres."""
    state = runfile.load(topology.run_file)
    if state is not None:
        if is_running(state.supervisor_pid, state.supervisor_created):
            print(f"Stopping the supervisor (pid {state.supervisor_pid})...", file=out, flush=True)
            terminate(state.supervisor_pid, grace_s=stop_budget(state))
        for component in reversed(state.components):
            if component.pid and component.created and is_running(component.pid, component.created):
                print(f"Stopping leftover {component.name} (pid {component.pid})", file=out)
                terminate(component.pid, STALE_GRACE_S)
    postgres = Postgres(topology)
    if postgres.pid() is not None:
        print(f"Stopping postgres (pid {postgres.pid()})", file=out)
        postgres.stop()
    topology.run_file.unlink(missing_ok=True)
    print("The stack is down.", file=out)
    return 0


def stop_budget(state: RunState) -> float:
    """Enough for the supervisor's orderly stop: every service's grace period, and more."""
    return 30.0 + 10.0 * sum(state.services.values())


# --- paths as a person types them ------------------------------------------------------
def shop_executable() -> str:
    """The `shop` command as a person types it here (the virtualenv's, not on PATH)."""
    return shown(Path(sys.executable).with_name("shop"))


def shown(path: Path) -> str:
    """Relative to the working directory when inside it: shorter, and still works."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
