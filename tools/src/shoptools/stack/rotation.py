"""`shop drain` / `shop undrain`: take a service instance out of rotation without stopping it.

A drained instance's chassis reports NOT_SERVING (SIGUSR1; SIGUSR2 undoes it), so every
caller's Envoy stops routing new calls to it after its next failed health checks, while
calls in flight finish. Unless it is its service's last instance in rotation: with no
healthy instance, Envoy routes to every instance (its panic threshold), so the service
keeps answering; `shop drain` and `shop status` say so. The supervisor watches processes,
not health: a drained instance is neither restarted nor reported as crashed (a restarted
one starts in rotation).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import TextIO

from shoptools.stack import runfile
from shoptools.stack.health import grpc_serving
from shoptools.stack.processes import is_running
from shoptools.stack.stack import shop_executable
from shoptools.topology import Topology

NOT_RUNNING = 3  # like `shop status`


def set_in_rotation(topology: Topology, instance: str, *, serving: bool, out: TextIO) -> int:
    """Signal `instance` (a service instance's name, e.g. catalog-2) to drain or undrain."""
    state = runfile.load(topology.run_file)
    if state is None or not is_running(state.supervisor_pid, state.supervisor_created):
        print("The stack is not running.", file=sys.stderr)
        return NOT_RUNNING
    services = [c for c in state.components if c.kind == "service"]
    component = next((c for c in services if c.name == instance), None)
    if component is None:
        known = ", ".join(c.name for c in services)
        print(f"no service instance {instance!r}; instances: {known}", file=sys.stderr)
        return 2
    pid, created = component.pid, component.created
    if pid is None or created is None or not is_running(pid, created):
        print(f"{instance} is not running ({component.state})", file=sys.stderr)
        return 1
    os.kill(pid, signal.SIGUSR2 if serving else signal.SIGUSR1)
    shop = shop_executable()
    if serving:
        print(
            f"{instance} (pid {pid}) serves again; callers route to it after their next "
            "health check (its log says if it still waits for migrations).",
            file=out,
        )
    else:
        print(
            f"{instance} (pid {pid}) is draining: it reports NOT_SERVING, and callers stop "
            f"routing to it after their next health checks. `{shop} undrain {instance}` "
            "puts it back.",
            file=out,
        )
        others = [c for c in services if c.service == component.service and c.name != instance]
        if not any(asyncio.run(_serving(c)) for c in others):
            print(_still_routed(component.service, instance, others), file=out)
    return 0


def _still_routed(service: str, instance: str, others: list[runfile.Component]) -> str:
    note = (
        f"Note: no other {service} instance is in rotation, so callers keep sending {instance} "
        "calls: with no healthy instance the mesh routes to all of them (Envoy's panic "
        "threshold). A drain moves calls to the other instances; it never turns a service off."
    )
    if others:
        return note
    more = f"{shop_executable()} up --instances {service}=2"
    return f"{note} To move its calls elsewhere, run a second instance first: `{more}`."


async def _serving(component: runfile.Component) -> bool:
    return await grpc_serving(int(component.address.rsplit(":", 1)[1]))
