"""`shop drain` / `shop undrain`: take a service instance out of rotation without stopping it.

A drained instance's chassis reports NOT_SERVING (SIGUSR1; SIGUSR2 undoes it), so every
caller's Envoy stops routing new calls to it after its next failed health checks, while
calls in flight finish. The supervisor watches processes, not health: a drained instance
is neither restarted nor reported as crashed (a restarted one starts in rotation).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TextIO

from shoptools.stack import runfile
from shoptools.stack.processes import is_running
from shoptools.stack.topology import Topology

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
    if serving:
        print(
            f"{instance} (pid {pid}) serves again; callers route to it after their next "
            "health check (its log says if it still waits for migrations).",
            file=out,
        )
    else:
        print(
            f"{instance} (pid {pid}) is draining: it reports NOT_SERVING, and callers stop "
            f"routing to it after their next health checks. `shop undrain {instance}` "
            "puts it back.",
            file=out,
        )
    return 0
