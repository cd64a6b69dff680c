"""The unit of work against a real PostgreSQL: state, events and the idempotency record
commit together or not at all; one outcome per key; conflicts are retried."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import protovalidate
import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from psycopg import errors as pg
from sqlalchemy import exc as sa
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis import context, faults
from chassis.db import Database
from chassis.domain import IdempotencyKeyReused
from chassis.testing import outbox_events
from chassis.uow import CONFLICT_ATTEMPTS, SqlUnitOfWork, UnitOfWork, retry_conflicts
from shop.catalog.v1 import events_pb2, product_pb2

pytestmark = pytest.mark.anyio

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Counters:
    """A tiny repository: named counters."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def bump(self, name: str) -> int:
        value: int = await self.conn.scalar(
            text(
                "INSERT INTO counters VALUES (:name, 1) ON CONFLICT (name)"
                " DO UPDATE SET value = counters.value + 1 RETURNING value"
            ),
            {"name": name},
        )
        return value

    async def read(self, name: str) -> int:
        return int(
            await self.conn.scalar(
                text("SELECT coalesce(max(value), 0) FROM counters WHERE name = :n"), {"n": name}
            )
        )

    async def write(self, name: str, value: int) -> None:
        await self.conn.execute(
            text("UPDATE counters SET value = :v WHERE name = :n"), {"n": name, "v": value}
        )


@dataclass(frozen=True)
class Bumped:
    name: str
    value: int
    at: datetime


@dataclass(frozen=True)
class Bump:
    name: str


@pytest.fixture
async def db(chassis_db: str) -> AsyncIterator[Database]:
    context.set_service("catalog")
    database = Database(chassis_db)
    async with database.transaction() as conn:
        await conn.execute(text("CREATE TABLE counters (name text PRIMARY KEY, value int)"))
    try:
        yield database
    finally:
        await database.dispose()


def units(db: Database) -> SqlUnitOfWork[Counters]:
    return SqlUnitOfWork(db, Counters)


class Runs:
    def __init__(self) -> None:
        self.count = 0
        self.started = asyncio.Event()
        self.may_finish = asyncio.Event()
        self.may_finish.set()


async def bump(
    uow: UnitOfWork[Counters], key: str, command: Bump, runs: Runs | None = None
) -> Bumped:
    """A command as services write them: claim, change, emit, commit the outcome."""
    async with uow:
        earlier = await uow.claim(key, command, Bumped)
        if earlier is not None:
            return earlier
        if runs is not None:
            runs.count += 1
            runs.started.set()
            await runs.may_finish.wait()
        value = await uow.repos.bump(command.name)
        uow.emit(events_pb2.ProductUpserted(product=product_pb2.Product(sku=command.name)), "K-1")
        result = Bumped(command.name, value, datetime.now(UTC))
        await uow.commit(result)
    return result


async def counter(db: Database, name: str) -> int:
    async with units(db) as uow:
        return await uow.repos.read(name)


async def test_the_change_its_events_and_its_outcome_commit_together(db: Database) -> None:
    context.correlation_id.set("op-5")
    span = NonRecordingSpan(SpanContext(TRACE_ID, SPAN_ID, False, TraceFlags(1)))
    with trace.use_span(span):
        outcome = await bump(units(db), str(uuid.uuid4()), Bump("a"))

    assert outcome.value == await counter(db, "a") == 1
    [event] = await outbox_events(db)
    assert event.subject == "catalog.product.upserted"  # from the contract's (event) option
    envelope = event.envelope
    assert protovalidate.collect_violations(envelope) == []
    assert (envelope.type, envelope.subject) == ("shop.catalog.v1.ProductUpserted", "products/K-1")
    assert envelope.source == "//catalog.shop.local"
    assert envelope.correlation_id == "op-5"
    assert envelope.traceparent == f"00-{TRACE_ID:032x}-{SPAN_ID:016x}-01"
    assert event.data == events_pb2.ProductUpserted(product=product_pb2.Product(sku="a"))


async def test_nothing_is_stored_unless_the_use_case_commits(db: Database) -> None:
    key = str(uuid.uuid4())

    async with units(db) as uow:  # decides not to commit
        assert await uow.claim(key, Bump("a"), Bumped) is None
        await uow.repos.bump("a")
        uow.emit(events_pb2.ProductUpserted(), "K-1")
    with pytest.raises(RuntimeError):
        await fail_half_way(units(db))

    assert await counter(db, "a") == 0
    assert await outbox_events(db) == []
    assert (await bump(units(db), key, Bump("a"))).value == 1  # the key was left free


async def fail_half_way(uow: UnitOfWork[Counters]) -> None:
    async with uow:
        await uow.repos.bump("a")
        uow.emit(events_pb2.ProductUpserted(), "K-1")
        raise RuntimeError


async def test_a_retry_returns_the_first_outcome_without_a_second_effect(db: Database) -> None:
    key, runs = str(uuid.uuid4()), Runs()

    first = await bump(units(db), key, Bump("a"), runs)
    retry = await bump(units(db), key, Bump("a"), runs)

    assert retry == first  # the same domain value, datetime included
    assert runs.count == 1
    assert await counter(db, "a") == 1
    assert len(await outbox_events(db)) == 1


async def test_a_key_reused_for_another_request_is_refused(db: Database) -> None:
    key = str(uuid.uuid4())
    await bump(units(db), key, Bump("a"))

    with pytest.raises(IdempotencyKeyReused) as refused:
        await bump(units(db), key, Bump("b"))

    assert refused.value.metadata == {"idempotency_key": key}
    assert await counter(db, "b") == 0


async def test_concurrent_commands_with_one_key_run_once(db: Database) -> None:
    key, runs = str(uuid.uuid4()), Runs()
    runs.may_finish.clear()

    first = asyncio.create_task(bump(units(db), key, Bump("a"), runs))
    await runs.started.wait()  # the first holds the key, its work unfinished
    second = asyncio.create_task(bump(units(db), key, Bump("a"), runs))
    await wait_until_a_session_waits_for_a_lock(db)
    runs.may_finish.set()

    assert await first == await second
    assert runs.count == 1
    assert await counter(db, "a") == 1


async def wait_until_a_session_waits_for_a_lock(db: Database) -> None:
    for _ in range(1000):
        async with db.transaction() as conn:
            waiting = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second command never waited for the first")


class Collision:
    """Makes two serializable transactions read the same row before either writes it:
    Postgres then aborts one of them with a serialization failure (40001)."""

    def __init__(self) -> None:
        self.arrived = 0
        self.both_read = asyncio.Event()

    async def increment(self, uow: UnitOfWork[Counters]) -> None:
        async with uow:
            await uow.repos.conn.execute(text("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"))
            value = await uow.repos.read("a")
            self.arrived += 1
            if self.arrived == 2:
                self.both_read.set()
            async with asyncio.timeout(1):
                await self.both_read.wait()
            await uow.repos.write("a", value + 1)
            await uow.commit()


async def test_a_serialization_failure_is_retried_and_the_command_succeeds(db: Database) -> None:
    await bump(units(db), str(uuid.uuid4()), Bump("a"))
    plain = Collision()
    with pytest.raises(sa.DBAPIError) as failed:  # without retries, one of them fails
        await asyncio.gather(plain.increment(units(db)), plain.increment(units(db)))
    assert isinstance(failed.value.orig, pg.SerializationFailure)

    retried = Collision()
    increment = retry_conflicts(retried.increment)
    await asyncio.gather(increment(units(db)), increment(units(db)))

    assert await counter(db, "a") == 1 + 1 + 2  # the plain pair's winner, then both retried
    assert retried.arrived > 2  # the loser really ran again


async def test_a_conflict_that_outlives_its_retries_surfaces(db: Database) -> None:
    attempts = 0

    @retry_conflicts
    async def always_conflicting() -> None:
        nonlocal attempts
        attempts += 1
        raise sa.OperationalError("UPDATE", {}, pg.DeadlockDetected("deadlock detected"))

    with pytest.raises(sa.OperationalError):
        await always_conflicting()
    assert attempts == CONFLICT_ATTEMPTS


async def test_a_conflict_raised_by_the_driver_is_retried_too() -> None:
    # Hot statements run straight on psycopg (chassis.db.Query): their conflicts arrive as
    # psycopg's own errors, not wrapped in SQLAlchemy's.
    attempts = 0

    @retry_conflicts
    async def conflicting_once() -> str:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise pg.SerializationFailure("could not serialize access")
        return "done"

    assert await conflicting_once() == "done"
    assert attempts == 2


async def test_a_read_runs_without_a_transaction_and_leaves_none_behind(chassis_db: str) -> None:
    context.set_service("catalog")
    db = Database(chassis_db, pool_size=1)  # one connection: the read's, then the writer's
    try:
        async with db.transaction() as conn:
            await conn.execute(text("CREATE TABLE counters (name text PRIMARY KEY, value int)"))
        await bump(units(db), str(uuid.uuid4()), Bump("a"))

        async with units(db).read() as uow:
            assert await uow.repos.read("a") == 1
            own_transaction = await uow.repos.conn.scalar(
                text("SELECT now() = statement_timestamp()")
            )
            with pytest.raises(RuntimeError, match="no transaction"):
                await uow.commit()
        with pytest.raises(RuntimeError):
            await fail_half_way(units(db))  # on the same pooled connection, after the read

        assert await counter(db, "a") == 1  # the failed writer rolled back: autocommit was off
        assert own_transaction is True  # each statement of a read is its own transaction
    finally:
        await db.dispose()


async def test_a_read_on_a_lost_connection_fails_as_a_fault_and_the_next_read_works(
    chassis_db: str,
) -> None:
    db = Database(chassis_db, pool_size=1)  # one read connection: each read reuses it
    try:
        async with units(db).read() as uow:
            backend = await uow.repos.conn.scalar(text("SELECT pg_backend_pid()"))
        async with db.transaction() as admin:  # the server drops it, as in a restart
            await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})

        with pytest.raises(sa.OperationalError) as lost:  # a fault (UNAVAILABLE), not a bug
            async with units(db).read() as uow:
                await uow.repos.conn.execute(text("SELECT 1"))
        async with units(db).read() as uow:
            assert await uow.repos.conn.scalar(text("SELECT 2")) == 2
    finally:
        await db.dispose()

    assert faults.classify(lost.value) is not None
