"""The service's database: a bounded pool of async SQLAlchemy Core connections on psycopg 3
(explicit SQL, no ORM unit of work on the hot path).

The pool is bounded (`SHOP_DB_POOL_SIZE`) and a call waits at most `SHOP_DB_POOL_TIMEOUT_S`
for a free connection: past that it is shed (RESOURCE_EXHAUSTED, see chassis.faults)
rather than queued past its deadline. How full the pool is, and how often a wait timed
out, are golden signals on /metrics.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from prometheus_client import Counter, Gauge
from sqlalchemy import exc as sa
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
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
        self._timeouts: Counter | None = None

    def observe(self, service: str, instance: str) -> None:
        """Publishes the pool's saturation under the service's metric labels."""
        POOL_SIZE.labels(service, instance).set(self._pool_size)
        POOL_IN_USE.labels(service, instance).set_function(self.engine.pool.checkedout)  # type: ignore[attr-defined]
        self._timeouts = POOL_TIMEOUTS.labels(service, instance)

    async def connect(self) -> AsyncConnection:
        """A pooled connection (close it to give it back); counts pool wait timeouts."""
        try:
            return await self.engine.connect()
        except sa.TimeoutError:
            if self._timeouts is not None:
                self._timeouts.inc()
            raise

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
        """Closes the pool's connections (on shutdown)."""
        await self.engine.dispose()


class Query:
    """A Core statement compiled once, run straight on the driver (`fetch`): for the hot
    reads, where SQLAlchemy's per-call execution machinery costs several times the query."""

    _dialect = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]

    def __init__(self, statement: ClauseElement) -> None:
        self.sql = str(statement.compile(dialect=self._dialect))


async def fetch(
    conn: AsyncConnection, query: Query, params: Mapping[str, Any]
) -> Sequence[tuple[Any, ...]]:
    """The rows of `query` on the unit of work's connection (in its transaction, if any).
    Named parameters as the statement's bindparams; psycopg prepares repeated statements."""
    raw = await conn.get_raw_connection()
    driver: psycopg.AsyncConnection[tuple[Any, ...]] = raw.driver_connection  # type: ignore[assignment]
    cursor = await driver.execute(query.sql, params)
    return await cursor.fetchall()
