"""The unit of work: one transaction per use case, in which the state change, the events it
emits and the idempotency record commit together, or not at all.

A command reads like this (the pattern of cosmicpython's allocation service):

    @retry_conflicts
    async def upsert_product(uow: UnitOfWork[Repositories], key: str, content: ...) -> Result:
        async with uow:
            if (earlier := await uow.claim(key, content, Result)) is not None:
                return earlier                     # a retry: the first outcome, no new effect
            change = domain.upsert(await uow.repos.products.get(content.sku), content, now)
            await uow.repos.products.save(change.product)
            uow.emit(events.upserted(change), aggregate_id=content.sku)
            result = Result(change.product, change.created)
            await uow.commit(result)               # without it, the block rolls back
        return result

Use cases see only the `UnitOfWork` protocol, so their tests can pass the in-memory one
(chassis.testing.InMemoryUnitOfWork); services run them on `SqlUnitOfWork`. Outcomes and
requests are domain values (chassis.records stores them), never contract messages.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Generic, ParamSpec, Protocol, TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis import faults, idempotency, outbox, records
from chassis.db import Database, commit_transaction, rollback_transaction

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
T = TypeVar("T")
P = ParamSpec("P")

CONFLICT_ATTEMPTS = 4  # a serialization failure or deadlock is retried 3 times, then surfaces
CONFLICT_BACKOFF_S = 0.01  # jittered, doubling


class UnitOfWork(Protocol[R_co]):
    """What a use case sees: `async with uow:` opens a transaction that is rolled back at
    the end of the block unless `commit()` was called inside it."""

    @property
    def repos(self) -> R_co:
        """The service's repositories, working inside this transaction."""
        ...

    async def __aenter__(self) -> UnitOfWork[R_co]: ...

    def read(self) -> AbstractAsyncContextManager[UnitOfWork[R_co]]:
        """For a query: the repositories without a transaction (each statement sees its
        own consistent snapshot), so a read costs one round trip, not three. Nothing can
        be claimed, emitted or committed in it."""
        ...

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    async def claim(self, key: str, request: object, outcome: type[T]) -> T | None:
        """Claims the idempotency key for this command (None: go ahead), or returns the
        outcome the first command with this key committed. The same key with a different
        request raises IdempotencyKeyReused (ALREADY_EXISTS)."""
        ...

    def emit(self, event: Message, aggregate_id: str) -> None:
        """Records a domain event about `<collection>/<aggregate_id>`; it reaches the
        outbox with the commit. The subject and collection come from the contract."""
        ...

    async def commit(self, outcome: object = None) -> None:
        """Commits the state change, the emitted events and, if a key was claimed, the
        outcome stored under it."""
        ...


class SqlUnitOfWork(Generic[R]):
    """The unit of work on the service's Postgres database."""

    def __init__(self, db: Database, repositories: Callable[[AsyncConnection], R]) -> None:
        self._db = db
        self._repositories = repositories
        self._conn: AsyncConnection | None = None
        self._repos: R | None = None
        self._events: list[outbox.OutboxRow] = []
        self._claimed: str | None = None
        self._committed = False
        self._reading = False

    @property
    def repos(self) -> R:
        if self._repos is None:
            raise RuntimeError("the unit of work is used outside its `async with` block")
        return self._repos

    async def __aenter__(self) -> SqlUnitOfWork[R]:
        # No SQLAlchemy begin(): the driver opens the transaction with the first statement,
        # and commits and rolls back on the driver too (each through SQLAlchemy is a hop
        # through its greenlet: about 90 µs of CPU per transaction, every command and
        # every event delivery of every service).
        conn = await self._db.connect()
        self._conn = conn
        self._repos = self._repositories(conn)
        self._events = []
        self._claimed = None
        self._committed = False
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        conn, self._conn, self._repos = self._connection(), None, None
        try:
            if not self._committed:
                await rollback_transaction(conn)
        finally:
            await conn.close()  # SQLAlchemy ends its own bookkeeping, if a statement began it

    async def claim(self, key: str, request: object, outcome: type[T]) -> T | None:
        kind = type(request)
        stored = await idempotency.claim(
            self._writing(),
            key=key,
            operation=f"{kind.__module__}.{kind.__qualname__}",
            request_hash=records.fingerprint(request),
        )
        if stored is None:
            self._claimed = key
            return None
        return records.load(outcome, stored)

    def read(self) -> AbstractAsyncContextManager[SqlUnitOfWork[R]]:
        return _Reading(self)

    def emit(self, event: Message, aggregate_id: str) -> None:
        self._writing()
        self._events.append(outbox.envelop(event, aggregate_id))

    async def commit(self, outcome: object = None) -> None:
        conn = self._writing()
        await outbox.write(conn, self._events)
        if self._claimed is not None:
            await idempotency.record(conn, key=self._claimed, outcome=records.dump(outcome))
        await commit_transaction(conn)
        self._committed = True

    def _connection(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("the unit of work is used outside its `async with` block")
        return self._conn

    def _writing(self) -> AsyncConnection:
        if self._reading:
            raise RuntimeError("a read() has no transaction: claim, emit and commit need one")
        return self._connection()


class _Reading(Generic[R]):
    """`SqlUnitOfWork.read()`: a class rather than a generator-based context manager, since
    every query of every service goes through it."""

    __slots__ = ("_reading", "_uow")

    def __init__(self, uow: SqlUnitOfWork[R]) -> None:
        self._uow = uow
        self._reading = uow._db.reading()

    async def __aenter__(self) -> SqlUnitOfWork[R]:
        uow = self._uow
        conn = await self._reading.__aenter__()
        uow._conn, uow._repos, uow._reading = conn, uow._repositories(conn), True
        return uow

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        uow = self._uow
        uow._conn, uow._repos, uow._reading = None, None, False
        await self._reading.__aexit__(kind, error, traceback)


def retry_conflicts(use_case: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Runs the use case again, in a new transaction, when Postgres aborted it for a
    serialization failure or a deadlock (it says a retry is then safe); after
    CONFLICT_ATTEMPTS the error surfaces (UNAVAILABLE, see chassis.faults)."""

    @functools.wraps(use_case)
    async def attempts(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                return await use_case(*args, **kwargs)
            except Exception as error:
                conflict = isinstance(faults.driver_error(error), faults.RETRYABLE_CONFLICTS)
                if not conflict or attempt == CONFLICT_ATTEMPTS:
                    raise
            await asyncio.sleep(random.uniform(0, CONFLICT_BACKOFF_S * 2**attempt))
        raise AssertionError("unreachable")

    return attempts
