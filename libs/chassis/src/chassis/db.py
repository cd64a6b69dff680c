"""The service's database: async SQLAlchemy Core connections on psycopg 3 (explicit SQL, no
ORM unit of work on the hot path), in two bounded sets of `SHOP_DB_POOL_SIZE` each:

- the pool the units of work take a connection from, for a transaction;
- read connections (`reading()`, behind uow.read()): kept open in driver autocommit and
  handed out from a queue, because a read that checks a connection out of a pool, switches
  it to autocommit and back, and returns it costs more CPU than the query itself.

A call waits at most `SHOP_DB_POOL_TIMEOUT_S` for a free connection: past that it is shed
(RESOURCE_EXHAUSTED, see chassis.faults) rather than queued past its deadline. How many
connections are in use, and how often a wait timed out, are golden signals on /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import psycopg
from prometheus_client import Counter, Gauge
from sqlalchemy import exc as sa
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.expression import ClauseElement

_LABELS = ("service", "instance")
POOL_IN_USE = Gauge("db_pool_connections_in_use", "Pooled connections checked out.", _LABELS)
POOL_SIZE = Gauge("db_pool_connections_max", "The most connections the pool opens.", _LABELS)
POOL_TIMEOUTS = Counter(
    "db_pool_wait_timeouts", "Calls shed because no connection was free in time.", _LABELS
)


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, pool_timeout_s: float = 0.5) -> None:
        """`url`: postgresql+psycopg://role:password@host:port/database."""
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=0,  # the bound is the bound
            pool_timeout=pool_timeout_s,
            pool_pre_ping=False,  # a dead connection fails one call (UNAVAILABLE), then is dropped
        )
        self._pool_size = pool_size
        self._pool_timeout_s = pool_timeout_s
        self._timeouts: Counter | None = None
        # Read connections: opened on demand up to pool_size, outside the pool (NullPool).
        self._read_engine = create_async_engine(url, poolclass=NullPool)
        self._idle_readers: asyncio.LifoQueue[AsyncConnection] = asyncio.LifoQueue()
        self._readers_open = 0

    def observe(self, service: str, instance: str) -> None:
        """Publishes the saturation of both sets under the service's metric labels."""
        POOL_SIZE.labels(service, instance).set(2 * self._pool_size)
        POOL_IN_USE.labels(service, instance).set_function(self._in_use)
        self._timeouts = POOL_TIMEOUTS.labels(service, instance)

    def _in_use(self) -> int:
        pooled: int = self.engine.pool.checkedout()  # type: ignore[attr-defined]
        return pooled + self._readers_open - self._idle_readers.qsize()

    async def connect(self) -> AsyncConnection:
        """A pooled connection (close it to give it back); counts pool wait timeouts."""
        try:
            return await self.engine.connect()
        except sa.TimeoutError:
            self._shed()
            raise

    def reading(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A read connection: no transaction, each statement sees its own snapshot."""
        return _Reading(self)

    async def _give_back(self, conn: AsyncConnection) -> None:
        """Back to the queue if it still works, else closed (a new one is opened when next
        needed). SQLAlchemy began its own bookkeeping transaction if the read ran a Core
        statement (the driver autocommits): ended here, or the next read would inherit it,
        and after an error refuse to run at all."""
        try:
            healthy = not conn.invalidated and not _driver(conn).broken
            if healthy and conn.in_transaction():
                await conn.rollback()
        except Exception:
            healthy = False
        if healthy:
            self._idle_readers.put_nowait(conn)
            return
        self._readers_open -= 1
        with contextlib.suppress(Exception):
            await conn.close()

    async def _take_reader(self) -> AsyncConnection:
        if not self._idle_readers.empty():
            return self._idle_readers.get_nowait()
        if self._readers_open < self._pool_size:
            self._readers_open += 1
            try:
                conn = await self._read_engine.connect()
                await _driver(conn).set_autocommit(True)
            except BaseException:
                self._readers_open -= 1
                raise
            return conn
        try:
            async with asyncio.timeout(self._pool_timeout_s):
                return await self._idle_readers.get()
        except TimeoutError:
            self._shed()
            raise sa.TimeoutError(
                f"no read connection free within {self._pool_timeout_s} s"
            ) from None

    def _shed(self) -> None:
        if self._timeouts is not None:
            self._timeouts.inc()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        conn = await self.connect()
        try:
            async with conn.begin():
                yield conn
        finally:
            await conn.close()

    async def probe(self) -> None:
        """Raises unless the database answers a trivial query (readiness)."""
        async with self.transaction() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Closes every connection (on shutdown)."""
        while not self._idle_readers.empty():
            with contextlib.suppress(Exception):
                await self._idle_readers.get_nowait().close()
        self._readers_open = 0
        await self._read_engine.dispose()
        await self.engine.dispose()


class _Reading:
    """`Database.reading()`: a class rather than a generator-based context manager, since
    every read of every service goes through it."""

    __slots__ = ("_conn", "_db")

    def __init__(self, db: Database) -> None:
        self._db = db

    async def __aenter__(self) -> AsyncConnection:
        self._conn = await self._db._take_reader()
        return self._conn

    async def __aexit__(self, *_: object) -> None:
        await self._db._give_back(self._conn)


class Query:
    """A Core statement compiled once, run straight on the driver (`fetch`, `execute`): for
    the hot paths, where SQLAlchemy's per-call execution machinery costs several times the
    query."""

    _dialect = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]

    def __init__(self, statement: ClauseElement) -> None:
        self.sql = str(statement.compile(dialect=self._dialect))


async def fetch(
    conn: AsyncConnection, query: Query, params: Mapping[str, Any]
) -> Sequence[tuple[Any, ...]]:
    """The rows of `query` on the unit of work's connection (in its transaction, if any).
    Named parameters as the statement's bindparams; psycopg prepares repeated statements."""
    cursor = await _driver(conn).execute(query.sql, params)
    return await cursor.fetchall()


async def execute(conn: AsyncConnection, query: Query, params: Mapping[str, Any]) -> int:
    """Runs a write `query` (no rows back) on the unit of work's connection, as `fetch`
    does; how many rows it changed."""
    cursor = await _driver(conn).execute(query.sql, params)
    return cursor.rowcount


async def execute_many(
    conn: AsyncConnection, query: Query, params: Sequence[Mapping[str, Any]]
) -> None:
    """Runs a write `query` once per parameter set, pipelined by the driver."""
    async with _driver(conn).cursor() as cursor:
        await cursor.executemany(query.sql, params)


async def commit_transaction(conn: AsyncConnection) -> None:
    """Commits the unit of work's transaction on the driver."""
    await _driver(conn).commit()


async def rollback_transaction(conn: AsyncConnection) -> None:
    """Rolls back the unit of work's transaction on the driver (nothing to do if none, or
    if the connection broke: closing it discards it, and the error that broke it stands)."""
    driver = _driver(conn)
    if not driver.broken:
        await driver.rollback()


def _driver(conn: AsyncConnection) -> psycopg.AsyncConnection[tuple[Any, ...]]:
    """The psycopg connection under an established SQLAlchemy one (no I/O, no greenlet)."""
    driver: psycopg.AsyncConnection[tuple[Any, ...]] = (
        conn.sync_connection.connection.driver_connection  # type: ignore[union-attr,assignment]
    )
    return driver
