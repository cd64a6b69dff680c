"""The stack as a person drives it: up (detached or in the foreground), down, status, logs."""

from __future__ import annotations

import asyncio
import importlib.resources
import io
import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import grpc

from shop.catalog.v1 import catalog_service_pb2, catalog_service_pb2_grpc
from shoptools.mesh.policy import load_policy
from shoptools.stack import runfile
from shoptools.stack.postgres import Postgres
from shoptools.stack.processes import is_running, terminate
from shoptools.stack.runfile import RunState
from shoptools.stack.supervisor import Supervisor
from shoptools.stack.topology import Topology

POLL_S = 0.05
STALE_GRACE_S = 10.0  # for a leftover process when its supervisor is gone
LOG_TAIL = 25
GET_PRODUCT = "shop.catalog.v1.CatalogService/GetProduct"


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


def up_detached(topology: Topology, policy_file: Path, faults: Sequence[str], out: TextIO) -> int:
    """Start `shop supervise` in its own session and follow its run file until the stack is
    healthy (exit 0, leaving it running) or startup fails (exit 1, nothing left running)."""
    began = time.monotonic()
    if _already_running(topology, out):
        return 0
    topology.log_dir.mkdir(parents=True, exist_ok=True)
    print(f"Starting the stack (state in {_shown(topology.state_dir)})", file=out, flush=True)
    with (topology.log_dir / "supervisor.log").open("ab") as log:
        supervisor = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shoptools.stack",
                "supervise",
                *topology_args(topology),
                "--policy",
                str(policy_file),
                *(arg for spec in faults for arg in ("--fault", spec)),
            ],
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
                    print_ready(topology, policy_file, time.monotonic() - began, out)
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


def up_foreground(topology: Topology, policy_file: Path, faults: Sequence[str], out: TextIO) -> int:
    """Supervise in this process; Ctrl-C (or SIGTERM) stops everything."""
    began = time.monotonic()
    if _already_running(topology, out):
        return 1
    topology.log_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(topology.log_dir / "supervisor.log", echo_warnings=True)
    progress = Progress(out)
    printed_ready = False

    def on_change(state: RunState) -> None:
        nonlocal printed_ready
        progress.update(state)
        if state.state == runfile.STACK_READY and not printed_ready:
            printed_ready = True
            print_ready(topology, policy_file, time.monotonic() - began, out)
            print("Running in the foreground; Ctrl-C stops everything.", file=out, flush=True)

    status = asyncio.run(Supervisor(topology, policy_file, on_change, faults=faults).run())
    if status != 0:
        _report_failure(topology, runfile.load(topology.run_file), out)
        topology.run_file.unlink(missing_ok=True)  # everything it started is stopped
        return 1
    print("Stopped.", file=out)
    return 0


def supervise(topology: Topology, policy_file: Path, faults: Sequence[str]) -> int:
    """The detached supervisor (`shop supervise`); its output is supervisor.log."""
    configure_logging(None, echo_warnings=False)
    return asyncio.run(Supervisor(topology, policy_file, faults=faults).run())


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


def _already_running(topology: Topology, out: TextIO) -> bool:
    state = runfile.load(topology.run_file)
    if state is not None and is_running(state.supervisor_pid, state.supervisor_created):
        print(
            f"The stack is already running (supervisor pid {state.supervisor_pid}); "
            f"see `{shop_command(topology, 'status')}`.",
            file=out,
        )
        return True
    if state is not None or Postgres(topology).pid() is not None:
        print("Cleaning up after a stack whose supervisor is gone.", file=out)
        down(topology, out)
    return False


def _report_failure(topology: Topology, state: RunState | None, out: TextIO) -> None:
    supervisor_log = topology.log_dir / "supervisor.log"
    if state is None or state.state != runfile.STACK_FAILED:
        print("The supervisor exited before the stack was up; its log:", file=out)
        print(tail(supervisor_log, LOG_TAIL), file=out)
    else:
        print(f"Startup failed at {state.failed}: {state.error}", file=out)
        failed = next((c for c in state.components if c.name == state.failed), None)
        if failed is not None and failed.log:
            print(f"--- last lines of {_shown(Path(failed.log))} ---", file=out)
            print(tail(Path(failed.log), LOG_TAIL), file=out)


def print_ready(topology: Topology, policy_file: Path, took_s: float, out: TextIO) -> None:
    catalog = next(iter(topology.instances("catalog")), None)
    first_instance = next((i.name for i in topology.instances()), "supervisor")
    lines = [
        "",
        f"Shopmesh is up in {took_s:.1f} s. Logs: {_shown(topology.log_dir)}",
        "",
        "  REST via the gateway:",
        f"    curl -s 'http://127.0.0.1:{topology.gateway_port}/v1/products?page_size=3'",
        "  A token (customer or --admin) for authenticated calls:",
        f"    {shop_command(topology, 'token --customer alice')}",
    ]
    grpcurl = _shown(Path(sys.executable).with_name("grpcurl"))
    sku = first_sku(catalog.app_port) if catalog is not None else None
    if catalog is not None:
        address = f"127.0.0.1:{catalog.app_port}"
        lines += [
            "  gRPC straight to the catalog app (reflection):",
            f"    {grpcurl} -plaintext {address} list",
        ]
        if sku is not None:
            lines.append(
                f'    {grpcurl} -plaintext -d \'{{"sku": "{sku}"}}\' {address} {GET_PRODUCT}'
            )
    lines += _client_lines(topology, policy_file, grpcurl, sku)
    lines += [
        "  What runs, and its logs:",
        f"    {shop_command(topology, 'status')}",
        f"    {shop_command(topology, f'logs {first_instance} -f')}",
        "  Stop everything:",
        f"    {shop_command(topology, 'down')}",
    ]
    print("\n".join(lines), file=out, flush=True)


def _client_lines(
    topology: Topology, policy_file: Path, grpcurl: str, sku: str | None
) -> list[str]:
    """Where each `--client` sidecar listens, and a call through one the policy lets call
    GetProduct (the mesh serves no reflection: grpcurl reads the contracts' descriptors)."""
    clients = topology.client_sidecars()
    if not clients:
        return []
    lines = ["  The mesh as a service (plaintext to its sidecar; the authority names the callee):"]
    lines += [f"    as {c.service:<14} 127.0.0.1:{c.outbound_port}" for c in clients]
    if sku is None:
        return lines
    policy = load_policy(policy_file)
    allowed = policy.callers(policy.service("catalog").methods["GetProduct"])
    caller = next((c for c in clients if c.service in allowed), None)
    if caller is not None:
        protoset = _shown(Path(str(importlib.resources.files("shop") / "contracts.binpb")))
        lines.append(
            f"    {grpcurl} -plaintext -protoset {protoset} -authority catalog "
            f'-d \'{{"sku": "{sku}"}}\' 127.0.0.1:{caller.outbound_port} {GET_PRODUCT}'
        )
    return lines


def first_sku(port: int) -> str | None:
    """A product that exists, so the printed GetProduct call works as printed."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = catalog_service_pb2_grpc.CatalogServiceStub(channel)
        try:
            reply = stub.ListProducts(
                catalog_service_pb2.ListProductsRequest(page_size=1), timeout=5
            )
        except grpc.RpcError:
            return None
    return reply.products[0].sku if reply.products else None


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


# --- logs ---------------------------------------------------------------------------------
def log_files(topology: Topology) -> dict[str, Path]:
    return {path.stem: path for path in sorted(topology.log_dir.glob("*.log"))}


def tail(path: Path, lines: int) -> str:
    try:
        with path.open(errors="replace") as f:
            return "".join(deque(f, maxlen=lines)).rstrip("\n")
    except FileNotFoundError:
        return f"({path} does not exist)"


def show_logs(
    topology: Topology, component: str | None, *, follow: bool, lines: int, out: TextIO
) -> int:
    files = log_files(topology)
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
    handles = {name: path.open(errors="replace") for name, path in files.items()}
    for handle in handles.values():
        handle.seek(0, os.SEEK_END)
    try:
        while True:
            quiet = True
            for name, handle in handles.items():
                for line in handle.readlines():
                    quiet = False
                    text = line.rstrip("\n")
                    print(f"{name:<18} | {text}" if prefix else text, file=out)
            out.flush()
            if quiet:
                time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        for handle in handles.values():
            handle.close()


# --- how to call shop again ---------------------------------------------------------------
def topology_args(topology: Topology) -> list[str]:
    args = ["--state-dir", str(topology.state_dir), "--base-port", str(topology.base_port)]
    for service, count in topology.services.items():
        args += ["--instances", f"{service}={count}"]
    for identity in topology.clients:
        args += ["--client", identity]
    return args


def shop_command(topology: Topology, command: str) -> str:
    """How to run `shop <command>` against this stack, as a person would type it here."""
    words = [_shown(Path(sys.executable).with_name("shop")), command]
    if topology.state_dir != Path.cwd() / ".state":
        words += ["--state-dir", _shown(topology.state_dir)]
    return " ".join(words)


def _shown(path: Path) -> str:
    """Relative to the working directory when inside it: shorter, and still works."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
