"""The outbox relay: publishes the events a service committed to its outbox to JetStream, in
commit order per aggregate, each exactly once as far as consumers can tell.

- One relay per database is active at a time (a session advisory lock); the others wait
  as standbys and take over when its connection goes away. One publisher keeps the order.
- It wakes on the NOTIFY every outbox write sends with its commit (chassis.outbox), and polls
  as well, so nothing waits on a lost notification.
- Each event is published with `Nats-Msg-Id` = its id, and marked published after the
  broker acknowledged it. A relay that dies in between publishes it again; the stream's
  duplicate window drops the copy (and consumers' inboxes catch anything older).
- While NATS or the database is unreachable it retries with jittered backoff (at most 5 s
  apart) and catches up when they return: events wait in the outbox, in order. The lag
  (pending events, age of the oldest) is on /metrics. Published rows are deleted after
  `outbox_retention_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import psycopg
from nats.js import JetStreamContext
from prometheus_client import Counter, Gauge
from sqlalchemy import text

from chassis import broker, faults
from chassis.broker import Backoff
from chassis.db import Database, Query, execute, fetch
from chassis.outbox import NOTIFY_CHANNEL
from shop.common.v1.event_pb2 import EventEnvelope

log = logging.getLogger("chassis.relay")

_LABELS = ("service", "instance")
PENDING = Gauge("outbox_pending_events", "Committed events not yet published.", _LABELS)
OLDEST_AGE = Gauge(
    "outbox_oldest_pending_age_seconds", "How long the oldest unpublished event waited.", _LABELS
)
PUBLISHED = Counter("outbox_published_events", "Events published to JetStream.", _LABELS)

RELAY_LOCK_ID = 0x0B7B0C5  # one relay per database: any constant unique within it
BATCH = 100
PUBLISH_TIMEOUT_S = 5.0
PRUNE_EVERY_S = 60.0
MEASURE_EVERY_S = 1.0  # the lag gauges: fresh enough, and not a transaction per batch
# Run for every batch: compiled once, run on the driver (chassis.db.Query).
_PENDING = Query(
    text(
        "SELECT id::text, subject, envelope FROM outbox WHERE published_at IS NULL"
        " ORDER BY created_at, id LIMIT :batch"
    )
)
_PUBLISHED = Query(text("UPDATE outbox SET published_at = now() WHERE id = ANY(:ids)"))


@dataclass(frozen=True)
class RelaySettings:
    nats_url: str
    poll_interval_s: float = 1.0
    retention_s: float = 86_400.0
    labels: tuple[str, str] = ("", "")  # (service, instance) for the metrics


class OutboxRelay:
    def __init__(self, db: Database, settings: RelaySettings) -> None:
        self._db = db
        self._settings = settings
        self._pending = PENDING.labels(*settings.labels)
        self._oldest = OLDEST_AGE.labels(*settings.labels)
        self._published = PUBLISHED.labels(*settings.labels)

    async def run(self) -> None:
        """Relays until cancelled (a chassis worker). An outage of the database or of NATS
        is waited out, with jittered backoff; only a bug ends it (and the worker restarts)."""
        backoff = Backoff()
        while True:
            try:
                await self._relay_while_connected()
            except Exception as error:
                if faults.classify(error) is None:
                    raise
                delay = backoff.next()
                log.warning(
                    "outbox relay: database unavailable (%r); retrying in %.2f s", error, delay
                )
                await asyncio.sleep(delay)

    async def _relay_while_connected(self) -> None:
        async with self._active_relay() as listener:
            log.info("outbox relay active")
            nc = await broker.connect(
                self._settings.nats_url, f"outbox-relay {self._settings.labels[1]}"
            )
            try:
                js = nc.jetstream(timeout=PUBLISH_TIMEOUT_S)
                await self._relay(js, listener)
            finally:
                await nc.close()

    async def _relay(self, js: JetStreamContext, listener: psycopg.AsyncConnection) -> None:
        backoff = Backoff()
        pruned_at = measured_at = 0.0
        while True:
            try:
                published = await self.publish_pending(js)
            except broker.FAILURES as error:
                delay = backoff.next()
                log.warning("cannot publish to NATS (%r); retrying in %.2f s", error, delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            if time.monotonic() - measured_at > MEASURE_EVERY_S:
                await self._measure_lag()
                measured_at = time.monotonic()
            if time.monotonic() - pruned_at > PRUNE_EVERY_S:
                await self._prune()
                pruned_at = time.monotonic()
            if published < BATCH:  # caught up: wait for a commit or the next poll
                await _wait_for_notify(listener, self._settings.poll_interval_s)

    async def publish_pending(self, js: JetStreamContext) -> int:
        """Publishes up to BATCH unpublished events, oldest first, one after the other (a
        later one is never in the stream before an earlier one); returns how many."""
        async with self._db.transaction() as conn:
            rows = await fetch(conn, _PENDING, {"batch": BATCH})
        published: list[str] = []
        try:
            for event_id, subject, envelope in rows:
                await js.publish(subject, envelope, headers=_headers(event_id, envelope))
                published.append(event_id)
        finally:
            if published:
                async with self._db.transaction() as conn:
                    await execute(conn, _PUBLISHED, {"ids": published})
                self._published.inc(len(published))
        return len(published)

    async def _measure_lag(self) -> None:
        async with self._db.transaction() as conn:
            count, age = (
                await conn.execute(
                    text(
                        "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)"
                        " FROM outbox WHERE published_at IS NULL"
                    )
                )
            ).one()
        self._pending.set(count)
        self._oldest.set(float(age))

    async def _prune(self) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                text("DELETE FROM outbox WHERE published_at < now() - make_interval(secs => :s)"),
                {"s": self._settings.retention_s},
            )

    @contextlib.asynccontextmanager
    async def _active_relay(self) -> AsyncIterator[psycopg.AsyncConnection]:
        """A connection that holds the relay lock and listens for outbox commits; waits as a
        standby while another instance's relay holds the lock."""
        # libpq takes the same URL without SQLAlchemy's driver name.
        url = self._db.engine.url.set(drivername="postgresql")
        conninfo = url.render_as_string(hide_password=False)
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            standby_logged = False
            while not await _try_lock(conn):
                if not standby_logged:
                    log.info("another instance relays the outbox; standing by")
                    standby_logged = True
                await asyncio.sleep(self._settings.poll_interval_s)
            await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
            yield conn


async def _try_lock(conn: psycopg.AsyncConnection) -> bool:
    cursor = await conn.execute("SELECT pg_try_advisory_lock(%s)", (RELAY_LOCK_ID,))
    row = await cursor.fetchone()
    return bool(row and row[0])


async def _wait_for_notify(conn: psycopg.AsyncConnection, timeout_s: float) -> None:
    async for _ in conn.notifies(timeout=timeout_s, stop_after=1):
        return


def _headers(event_id: str, envelope_bytes: bytes) -> dict[str, str]:
    """JetStream deduplicates by Nats-Msg-Id; the trace context lets consumers continue
    the trace without decoding first."""
    envelope = EventEnvelope.FromString(envelope_bytes)
    headers = {"Nats-Msg-Id": event_id, "Shop-Event-Type": envelope.type}
    if envelope.traceparent:
        headers["traceparent"] = envelope.traceparent
    if envelope.tracestate:
        headers["tracestate"] = envelope.tracestate
    return headers
