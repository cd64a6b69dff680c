"""The stack at a glance: the sampler's bounded memory of `shop status` reports, and the
page drawn from it; without a local stack the page says it needs one."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from test_console_fakes import console

from shoptools.topology import Topology
from shopweb.console.sampler import Sampler
from shopweb.console.stack import health_word


def report(calls: int) -> dict[str, Any]:
    return {
        "state": "ready",
        "healthy": True,
        "faults": [],
        "sagas": {"totals": {"started": 3, "completed": 2, "compensated": 1}, "phases": {}},
        "consumers": [
            {
                "stream": "ORDERS",
                "consumer": "audit-orders",
                "pending": 2,
                "ack_pending": 1,
                "redelivered": 0,
            }
        ],
        "components": [
            {
                "name": "nats",
                "kind": "nats",
                "healthy": True,
                "state": "healthy",
                "address": "a",
                "pid": 1,
                "restarts": 0,
                "detail": "",
            },
            {
                "name": "catalog-1",
                "kind": "service",
                "healthy": True,
                "state": "healthy",
                "grpc_health": "SERVING",
                "address": "b",
                "pid": 2,
                "restarts": 1,
                "detail": "",
                "signals": {
                    "calls": calls,
                    "errors": 0,
                    "p50_ms": 1.5,
                    "p99_ms": 8.0,
                    "in_flight": 0,
                    "db_connections": "1/10",
                    "outbox_pending": 0,
                },
            },
        ],
    }


class Collector:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, topology: Topology) -> dict[str, Any]:
        self.calls += 1
        return report(10 * self.calls)


def test_the_sampler_keeps_only_the_last_samples(tmp_path: Path) -> None:
    async def run() -> Sampler:
        sampler = Sampler(tmp_path, every_s=0.01, kept=3, collect=Collector())
        sampler.start()
        while (
            len(sampler.samples) < 3
            or sampler.samples[-1].report["components"][1]["signals"]["calls"] < 60
        ):
            await asyncio.sleep(0.01)
        await sampler.stop()
        return sampler

    sampler = asyncio.run(run())
    assert len(sampler.samples) == 3
    calls = [s.report["components"][1]["signals"]["calls"] for s in sampler.samples]
    assert calls == sorted(calls)
    assert calls[0] > 10


def test_the_page_shows_health_signals_sagas_and_consumer_lag(tmp_path: Path) -> None:
    with console(stack_state_dir=tmp_path) as client:
        client.app.state.console_sampler = Sampler(tmp_path, collect=Collector())  # type: ignore[attr-defined]
        page = client.get("/console/")
        panel = client.get("/console/stack-panel")
    assert page.status_code == 200
    assert '<th scope="row">catalog-1</th>' in page.text
    assert 'aria-label="catalog-1 ms p99: now 8.0' in page.text
    assert "3 started, 2 completed (confirmed), 1 compensated (rejected)" in page.text
    assert '<th scope="row">audit-orders</th><td>3 <svg' in page.text
    assert 'data-refresh="/console/stack-panel"' in page.text
    assert "<h1>" not in panel.text
    assert 'data-testid="signals"' in panel.text


def test_without_a_local_stack_the_page_says_it_needs_one() -> None:
    with console() as client:
        page = client.get("/console/")
    assert "This view needs the local stack" in page.text


def test_health_is_said_as_shop_status_says_it() -> None:
    assert health_word({"healthy": True}) == "healthy"
    assert (
        health_word({"healthy": False, "grpc_health": "NOT_SERVING", "signals": None}) == "drained"
    )
    waiting = {
        "healthy": False,
        "grpc_health": "NOT_SERVING",
        "signals": {"not_serving_because": ["schema"]},
    }
    assert health_word(waiting) == "waiting (schema)"
    assert health_word({"healthy": False, "state": "healthy"}) == "failing"
    assert health_word({"healthy": False, "state": "restarting"}) == "restarting"


def test_a_visits_sampling_stops_when_nobody_looks_and_starts_afresh(tmp_path: Path) -> None:
    async def run() -> tuple[int, int]:
        sampler = Sampler(tmp_path, every_s=0.01, collect=Collector(), idle_s=0.05)
        sampler.start()
        while sampler.running:
            await asyncio.sleep(0.01)
        stopped_with = len(sampler.samples)
        sampler.start()  # a new visit: what was sampled before the gap is dropped
        restarted_with = len(sampler.samples)
        await sampler.stop()
        return stopped_with, restarted_with

    stopped_with, restarted_with = asyncio.run(run())
    assert stopped_with > 0
    assert restarted_with == 0
