"""What a benchmark run measures besides calls: CPU time per kind of process, percentiles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import psutil

# The kinds of process a read crosses, in the order a call crosses them.
KINDS = ("gateway", "sidecar", "app", "postgres", "load")


class CpuMeter:
    """CPU seconds (user + system) of groups of processes, between two snapshots.

    A group is its root processes and, for `with_children` roots, everything below them
    at snapshot time (Postgres serves each connection from a backend process of its own).
    """

    def __init__(
        self, groups: Mapping[str, Sequence[int]], with_children: frozenset[str] = frozenset()
    ) -> None:
        self._groups = groups
        self._with_children = with_children
        self._start: dict[str, dict[int, float]] = {}

    def start(self) -> None:
        self._start = self._snapshot()

    def stop(self) -> dict[str, float]:
        """CPU seconds per group since start(); a process started meanwhile counts whole."""
        end = self._snapshot()
        return {
            group: sum(cpu - self._start.get(group, {}).get(pid, 0.0) for pid, cpu in pids.items())
            for group, pids in end.items()
        }

    def _snapshot(self) -> dict[str, dict[int, float]]:
        snapshot: dict[str, dict[int, float]] = {}
        for group, roots in self._groups.items():
            cpu: dict[int, float] = {}
            for root in roots:
                try:
                    process = psutil.Process(root)
                    members = [process]
                    if group in self._with_children:
                        members += process.children(recursive=True)
                except psutil.NoSuchProcess:
                    continue
                for member in members:
                    try:
                        times = member.cpu_times()
                    except psutil.NoSuchProcess:
                        continue
                    cpu[member.pid] = times.user + times.system
            snapshot[group] = cpu
        return snapshot


def percentile(sorted_values: Sequence[int], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values (0 when there are none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(fraction * len(sorted_values)))
    return float(sorted_values[min(rank, len(sorted_values)) - 1])
