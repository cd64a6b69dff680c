"""`shop down` leaves nothing of the stack running, also when its supervisor was killed."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from shoptools.topology import Topology

from .harness import (
    alive,
    isolated_topology,
    recorded_pids,
    run_state,
    running_stack,
    shop,
    stack_processes,
)


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    """One state directory for this module's stacks: only the first start is a cold one."""
    with isolated_topology(catalog=1) as isolated:
        yield isolated


def test_up_then_down_leaves_no_process(topology: Topology) -> None:
    with running_stack(topology):
        pids = recorded_pids(run_state(topology))
        # The supervisor, postgres, nats, the SMTP sink, the gateway and the web process;
        # each instance and its sidecar.
        assert len(pids) == 6 + 2 * len(topology.instances())

        result = shop(topology, "down")

        assert result.returncode == 0, result.stdout + result.stderr
        assert alive(pids) == set()
        assert stack_processes(topology) == []
        assert not topology.run_file.exists()


def test_down_cleans_up_after_a_killed_supervisor(topology: Topology) -> None:
    with running_stack(topology):
        state = run_state(topology)
        os.kill(state.supervisor_pid, signal.SIGKILL)
        status = shop(topology, "status")
        assert status.returncode == 3
        assert "supervisor is gone, but these still run: postgres, smtp-sink, nats" in (
            status.stdout
        )

        result = shop(topology, "down")

        assert result.returncode == 0, result.stdout + result.stderr
        assert "Stopping leftover catalog-1" in result.stdout
        assert alive(recorded_pids(state)) == set()
        assert stack_processes(topology) == []
