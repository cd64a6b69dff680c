"""The unit of work in memory, for fast tests of use cases (no database)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Generic, TypeVar

from google.protobuf.message import Message

from chassis import records
from chassis.domain import IdempotencyKeyReused
from chassis.outbox import event_route

R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True)
class Emitted:
    """An event a committed unit of work emitted, about `aggregate` (`<collection>/<id>`)."""

    aggregate: str
    event: Message


class InMemoryUnitOfWork(Generic[R]):
    """Behaves like SqlUnitOfWork for a use case: claims, events and outcomes take effect
    only on commit. The repositories are the test's fakes; they are not rolled back, so a
    use case under test should write them only once it has decided to commit."""

    def __init__(self, repos: R) -> None:
        self._repos = repos
        self.committed: list[Emitted] = []
        """Every event of every committed unit of work, in order."""
        self.commits = 0
        self._keys: dict[str, tuple[bytes, bytes]] = {}  # key -> (request fingerprint, outcome)
        self._pending: list[Emitted] = []
        self._claimed: tuple[str, bytes] | None = None

    @property
    def repos(self) -> R:
        return self._repos

    async def __aenter__(self) -> InMemoryUnitOfWork[R]:
        self._pending = []
        self._claimed = None
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._pending = []
        self._claimed = None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[InMemoryUnitOfWork[R]]:
        yield self

    async def claim(self, key: str, request: object, outcome: type[T]) -> T | None:
        fingerprint = records.fingerprint(request)
        if key not in self._keys:
            self._claimed = (key, fingerprint)
            return None
        stored_fingerprint, stored = self._keys[key]
        if stored_fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                "the idempotency key was used before with a different request",
                metadata={"idempotency_key": key},
            )
        return records.load(outcome, stored)

    def emit(self, event: Message, aggregate_id: str) -> None:
        collection = event_route(event.DESCRIPTOR).collection  # type: ignore[arg-type]
        self._pending.append(Emitted(f"{collection}/{aggregate_id}", event))

    async def commit(self, outcome: object = None) -> None:
        if self._claimed is not None:
            key, fingerprint = self._claimed
            self._keys[key] = (fingerprint, records.dump(outcome))
        self.committed.extend(self._pending)
        self._pending = []
        self.commits += 1
