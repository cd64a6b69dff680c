"""The ceiling of the orders benchmark: what the building blocks of one order cost on this
machine, measured in the same run, and the orders/s they would allow if nothing else ran.

Blocks (CPU time per operation, every process involved counted):
- a bare grpc.aio unary call: the floor servicer's CPU per GetProduct (bench.floor), as
  `shop bench reads` measures it;
- an Envoy hop: the floor's sidecar CPU per call (mutual TLS in, plaintext out);
- a Postgres transaction writing a row and an outbox row through raw psycopg (client and
  server backends), in a scratch schema of the orders database, over TCP as orders' role;
- a pipelined JetStream publish (client and server) to a scratch file stream;
- a delivery: a pull consumer's fetch and ack of one message (client and server).

An order, as issue 7 counts it: 5 calls x 2 hops, about 8 transactions, 6 events and 15
deliveries. The ceiling is every core's time divided by that cost.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

import psycopg
from nats.js.api import ConsumerConfig, StorageType, StreamConfig

from shoptools.bench import reads
from shoptools.bench.measure import CpuMeter
from shoptools.stack import nats as stack_nats
from shoptools.stack import runfile
from shoptools.stack.postgres import Postgres
from shoptools.topology import Topology

# Issue 7's count of what one order does.
CALLS = 5  # authorize, reserve, create shipment, confirm reservation, capture
HOPS_PER_CALL = 2  # the caller's sidecar out, the callee's sidecar in
TRANSACTIONS = 8
EVENTS = 6
DELIVERIES = 15
# How much of each block to measure: enough for a steady figure in about a second each.
TRANSACTIONS_MEASURED = 1500
MESSAGES_MEASURED = 3000
FLOOR_IN_FLIGHT = 8  # calls in flight to the floor: busy enough for a steady CPU per call
PIPELINE = 100  # publishes in flight, as a relay batch would be
SCRATCH_STREAM = "BENCH_CEILING"
SCRATCH_SUBJECT = "benchceiling"
SCRATCH_SCHEMA = "bench_ceiling"
EVENT_BYTES = 400  # about an OrderPlaced envelope


@dataclass(frozen=True)
class Blocks:
    """CPU µs per operation of each building block, as measured here."""

    grpc_call_us: float
    envoy_hop_us: float
    envoy_hop_p50_ms: float  # what a hop adds to the p50 latency
    pg_transaction_us: float
    jetstream_publish_us: float
    delivery_us: float


def order_cost_us(blocks: Blocks) -> dict[str, float]:
    """What one order costs by the issue's count, term by term, and in total."""
    terms = {
        "calls": CALLS * (blocks.grpc_call_us + HOPS_PER_CALL * blocks.envoy_hop_us),
        "transactions": TRANSACTIONS * blocks.pg_transaction_us,
        "events": EVENTS * blocks.jetstream_publish_us,
        "deliveries": DELIVERIES * blocks.delivery_us,
    }
    return {**terms, "total": sum(terms.values())}


def ceiling_orders_per_s(cost_us: float, cores: int) -> float:
    """Orders/s if all `cores` did nothing but an order's building blocks."""
    return cores * 1e6 / cost_us if cost_us > 0 else 0.0


def ratio(achieved: float, ceiling: float) -> float | None:
    return round(achieved / ceiling, 3) if ceiling > 0 else None


async def measure(topology: Topology, out: TextIO) -> Blocks:
    """Every block, one after the other, on the running stack's machine."""
    print("Ceiling: measuring the building blocks on this machine...", file=out, flush=True)
    grpc_us, hop_us, hop_ms = await _grpc_and_envoy(topology, out)
    pg_us = await asyncio.to_thread(_pg_transactions, topology)
    publish_us, delivery_us = await _jetstream(topology)
    blocks = Blocks(
        grpc_call_us=round(grpc_us, 1),
        envoy_hop_us=round(hop_us, 1),
        envoy_hop_p50_ms=round(hop_ms, 3),
        pg_transaction_us=round(pg_us, 1),
        jetstream_publish_us=round(publish_us, 1),
        delivery_us=round(delivery_us, 1),
    )
    print(
        f"  grpc.aio call {blocks.grpc_call_us:.0f} µs, Envoy hop {blocks.envoy_hop_us:.0f} µs "
        f"(+{blocks.envoy_hop_p50_ms:.2f} ms p50 at {FLOOR_IN_FLIGHT} in flight), Postgres tx "
        f"+ outbox row {blocks.pg_transaction_us:.0f} µs, JetStream publish "
        f"{blocks.jetstream_publish_us:.0f} µs, delivery {blocks.delivery_us:.0f} µs "
        "(CPU per operation)",
        file=out,
        flush=True,
    )
    return blocks


async def _grpc_and_envoy(topology: Topology, out: TextIO) -> tuple[float, float, float]:
    """The floor of `shop bench reads`: GetProduct straight to the bare servicer (its CPU
    per call), then through its sidecar (the sidecar's CPU per call, and the p50 it adds)."""
    products = reads.all_products(topology.instances("catalog")[0].app_port)
    floor = reads.start_floor(topology, products, out)
    options = reads.Options(
        state_dir=topology.state_dir,
        concurrency=FLOOR_IN_FLIGHT,
        workers=1,
        duration_s=3.0,
        warmup_s=0.5,
    )
    try:
        runs = {}
        for path in ("app", "sidecar"):
            specs = reads.call_specs(options, topology, floor, path, "GetProduct", products)
            runs[path] = await reads.run_load(options, floor, path, "GetProduct", specs, out)
    finally:
        reads.stop_system(floor)
    app, sidecar = runs["app"], runs["sidecar"]
    return (
        app.cpu_us_per_call["app"],
        sidecar.cpu_us_per_call["sidecar"],
        max(0.0, sidecar.p50_ms - app.p50_ms),
    )


def _pg_transactions(topology: Topology) -> float:
    """CPU µs per transaction that inserts a row and its outbox row, client and server."""
    url = Postgres(topology).database_url("orders").replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCRATCH_SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCRATCH_SCHEMA}")
        conn.execute(
            f"CREATE TABLE {SCRATCH_SCHEMA}.orders (id uuid PRIMARY KEY, status text NOT NULL, "
            "version bigint NOT NULL, body jsonb NOT NULL)"
        )
        conn.execute(
            f"CREATE TABLE {SCRATCH_SCHEMA}.outbox (id uuid PRIMARY KEY, subject text NOT NULL, "
            "envelope bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), "
            "published_at timestamptz)"
        )
        envelope = os.urandom(EVENT_BYTES)
        try:

            def transactions() -> None:
                for _ in range(TRANSACTIONS_MEASURED):
                    with conn.transaction():
                        conn.execute(
                            f"INSERT INTO {SCRATCH_SCHEMA}.orders VALUES (%s, 'PENDING', 1, "
                            """'{"lines": [{"sku": "BK-BIRDS-EUROPE", "quantity": 1}]}')""",
                            (uuid.uuid4(),),
                        )
                        conn.execute(
                            f"INSERT INTO {SCRATCH_SCHEMA}.outbox (id, subject, envelope) "
                            "VALUES (%s, 'orders.order.placed', %s)",
                            (uuid.uuid4(), envelope),
                        )

            with _cpu(topology, "postgres") as spent:
                transactions()
            return spent() / TRANSACTIONS_MEASURED * 1e6
        finally:
            conn.execute(f"DROP SCHEMA {SCRATCH_SCHEMA} CASCADE")


async def _jetstream(topology: Topology) -> tuple[float, float]:
    """CPU µs per pipelined publish, and per delivery (fetch + ack), client and server."""
    client = await stack_nats.connect(topology, connect_timeout=5, max_reconnect_attempts=0)
    js = client.jetstream(timeout=10)
    try:
        await js.add_stream(
            StreamConfig(
                name=SCRATCH_STREAM,
                subjects=[f"{SCRATCH_SUBJECT}.>"],
                storage=StorageType.FILE,
            )
        )
        payload = os.urandom(EVENT_BYTES)
        with _cpu(topology, "nats") as published:
            for start in range(0, MESSAGES_MEASURED, PIPELINE):
                await asyncio.gather(
                    *(
                        js.publish(
                            f"{SCRATCH_SUBJECT}.event",
                            payload,
                            headers={"Nats-Msg-Id": f"{start + i}"},
                        )
                        for i in range(PIPELINE)
                    )
                )
        publish_us = published() / MESSAGES_MEASURED * 1e6
        consumer = await js.pull_subscribe(
            f"{SCRATCH_SUBJECT}.>",
            durable="ceiling",
            stream=SCRATCH_STREAM,
            config=ConsumerConfig(ack_wait=30),
        )
        received = 0
        with _cpu(topology, "nats") as delivered:
            while received < MESSAGES_MEASURED:
                for message in await consumer.fetch(PIPELINE, timeout=10):
                    await message.ack()
                    received += 1
            await client.flush()
        return publish_us, delivered() / received * 1e6
    finally:
        await js.delete_stream(SCRATCH_STREAM)
        await client.close()


@contextmanager
def _cpu(topology: Topology, server: str) -> Iterator[Callable[[], float]]:
    """CPU seconds this process and the stack's `server` (with its children) spent inside
    the block; read the result after it."""
    state = runfile.load(topology.run_file)
    assert state is not None, "the stack is not running"
    pid = state.component(server).pid
    meter = CpuMeter(
        {"self": [os.getpid()], server: [pid] if pid else []},
        with_children=frozenset({"postgres"}),
    )
    spent: list[float] = []
    meter.start()
    try:
        yield lambda: spent[0]
    finally:
        spent.append(sum(meter.stop().values()))
