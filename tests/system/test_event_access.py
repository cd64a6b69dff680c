"""Events on the running stack, as the policy's events section allows them: every service
connects to NATS over TLS as itself, runs the durable consumers the policy gives it, and
the catalog's events reach audit's consumer through both services' own credentials."""

from __future__ import annotations

import asyncio

import httpx

from shoptools.mesh.policy import load_policy
from shoptools.stack import nats as stack_nats
from shoptools.stack.nats_auth import stream_name

from .harness import ROOT, Stack, wait_until


async def consumers(stack: Stack) -> dict[tuple[str, str], tuple[int, int]]:
    """(stream, consumer) -> (the consumer's ack floor, the stream's last sequence)."""
    client = await stack_nats.connect(stack.topology)  # as the stack's admin
    try:
        js = client.jetstream()
        found = {}
        for stream in await js.streams_info():
            name = stream.config.name or ""
            for consumer in await js.consumers_info(name):
                floor = consumer.ack_floor.stream_seq if consumer.ack_floor else 0
                found[(name, consumer.name or "")] = (floor or 0, stream.state.last_seq)
        return found
    finally:
        await client.close()


def test_every_service_runs_the_consumers_the_policy_gives_it(stack: Stack) -> None:
    policy = load_policy(ROOT / "mesh" / "policy.yaml")
    declared = {
        (stream_name(s.context), s.name)
        for service in stack.topology.services
        for s in policy.subscriptions(service)
    }
    assert ("ORDERS", "payments-order-cancelled") in declared

    wait_until(
        lambda: declared <= asyncio.run(consumers(stack)).keys(),
        f"the consumers {sorted(declared)}",
    )
    assert asyncio.run(consumers(stack)).keys() == declared  # and no other


def test_each_service_connects_as_itself_over_tls(stack: Stack) -> None:
    monitor = f"http://127.0.0.1:{stack.topology.nats_monitor_port}/connz?auth=1"

    def services() -> list[dict[str, str]]:
        connections = httpx.get(monitor, timeout=10).json()["connections"]
        return [c for c in connections if c.get("authorized_user") != "admin"]

    wait_until(
        lambda: {c["authorized_user"] for c in services()} == set(stack.topology.services),
        "a connection of every service",
    )
    for connection in services():
        user, name = connection["authorized_user"], connection["name"]
        assert connection["tls_version"].startswith("1."), connection
        # "outbox-relay catalog-1", "consumer payments-order-cancelled"
        assert name.split(" ")[1].startswith(f"{user}-"), connection


def test_the_catalogs_events_reach_audit(stack: Stack) -> None:
    """The catalog's relay published its seed as catalog; audit consumed it as audit."""

    def audit_caught_up() -> bool:
        floor, last = asyncio.run(consumers(stack)).get(("CATALOG", "audit-catalog"), (0, 0))
        return last > 0 and floor == last

    wait_until(audit_caught_up, "audit-catalog acknowledging every CATALOG event")
