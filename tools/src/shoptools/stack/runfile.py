"""The supervisor's record of what it runs (topology.run_file): read by `up` to follow
startup, by `status`, and by `down` to find everything it must stop."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shoptools.topology import Topology

# Component states, in the order a healthy start passes through them.
PENDING, STARTING, HEALTHY, DONE = "pending", "starting", "healthy", "done"
RESTARTING, FAILED, STOPPED = "restarting", "failed", "stopped"
# Stack states.
STACK_STARTING, STACK_READY, STACK_FAILED, STACK_STOPPING = (
    "starting",
    "ready",
    "failed",
    "stopping",
)


@dataclass
class Component:
    name: str  # "postgres", "nats", "catalog-1", "catalog-1-sidecar", "gateway", ...
    kind: str  # postgres | nats | smtp | web | service | sidecar | gateway | task
    address: str  # where to reach it ("" for tasks)
    log: str  # its log file
    state: str = PENDING
    pid: int | None = None
    created: float | None = None  # the pid's start time: tells it from a reused pid
    restarts: int = 0
    startup_s: float | None = None  # from start to healthy, first time
    detail: str = ""  # the last thing worth saying: an exit status, an error
    service: str = ""  # for service instances and their sidecars
    metrics: str = ""  # a service instance's Prometheus address; a sidecar's admin address


@dataclass
class RunState:
    supervisor_pid: int
    supervisor_created: float
    state_dir: str
    base_port: int
    services: dict[str, int]
    clients: list[str] = field(default_factory=list)  # identities of outbound-only sidecars
    faults: list[str] = field(default_factory=list)  # --fault specs: chaos is on
    policy: str = ""  # the mesh policy file the stack was rendered from
    state: str = STACK_STARTING
    ready_s: float | None = None  # from the supervisor's start to the whole stack healthy
    failed: str = ""  # the component that made startup fail
    error: str = ""
    components: list[Component] = field(default_factory=list)

    def component(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)


def save(path: Path, state: RunState) -> None:
    """Atomically, so a reader never sees half a file."""
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(asdict(state), indent=2))
    os.replace(partial, path)


def load(path: Path) -> RunState | None:
    try:
        raw: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    components = [Component(**c) for c in raw.pop("components")]
    return RunState(**raw, components=components)


def running_topology(state_dir: Path) -> Topology:
    """The stack running in `state_dir` as its supervisor started it: its ports come from
    its run file (it may use another base port); the default topology when none runs."""
    state = load(Topology(state_dir=state_dir).run_file)
    if state is None:
        return Topology(state_dir=state_dir)
    return Topology(
        state_dir=state_dir,
        base_port=state.base_port,
        services=state.services,
        clients=tuple(state.clients),
    )
