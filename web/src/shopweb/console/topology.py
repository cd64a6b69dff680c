"""The local stack the console looks at, as `shop` finds it: its ports come from the run
file its supervisor writes (it may run on another base port than the default)."""

from __future__ import annotations

from pathlib import Path

from shoptools.stack import runfile
from shoptools.topology import Topology


def running_topology(state_dir: Path) -> Topology:
    state = runfile.load(Topology(state_dir=state_dir).run_file)
    if state is None:
        return Topology(state_dir=state_dir)
    return Topology(
        state_dir=state_dir,
        base_port=state.base_port,
        services=state.services,
        clients=tuple(state.clients),
    )
