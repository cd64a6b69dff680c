"""The audit log in memory, for the use cases' unit tests."""

from __future__ import annotations

from audit.domain import EMPTY_CHAIN, AuditRecord, ChainHead, EventQuery
from audit.repository import Repositories
from chassis.testing import InMemoryUnitOfWork


class InMemoryAuditLog:
    """Behaves like AuditLogRepository; `records` is by sequence, so tests can tamper."""

    def __init__(self) -> None:
        self.records: dict[int, AuditRecord] = {}
        self.recorded_head: ChainHead | None = EMPTY_CHAIN

    async def lock_head(self) -> ChainHead:
        return await self.head()

    async def head(self) -> ChainHead:
        if self.recorded_head is not None:
            return self.recorded_head
        return max(
            (r.link for r in self.records.values()),
            key=lambda link: link.sequence,
            default=EMPTY_CHAIN,
        )

    async def find(self, event_id: str) -> AuditRecord | None:
        return next((r for r in self.records.values() if r.facts.event_id == event_id), None)

    async def append(self, record: AuditRecord) -> None:
        assert record.sequence not in self.records, "a fork: two records with one sequence"
        self.records[record.sequence] = record
        self.recorded_head = record.link

    async def get(self, sequence: int) -> AuditRecord | None:
        return self.records.get(sequence)

    async def between(self, first: int, last: int, *, limit: int) -> list[AuditRecord]:
        return [self.records[s] for s in sorted(self.records) if first <= s <= last][:limit]

    async def matching(
        self, query: EventQuery, *, after_sequence: int, limit: int
    ) -> list[AuditRecord]:
        found = [
            self.records[s]
            for s in sorted(self.records)
            if s > after_sequence and _matches(self.records[s], query)
        ]
        return found[:limit]


def _matches(record: AuditRecord, query: EventQuery) -> bool:
    facts = record.facts
    return (
        query.subject in ("", facts.subject)
        and query.type in ("", facts.type)
        and query.correlation_id in ("", facts.correlation_id)
        and (query.start_time is None or facts.time >= query.start_time)
        and (query.end_time is None or facts.time < query.end_time)
    )


def in_memory_uow() -> InMemoryUnitOfWork[Repositories]:
    return InMemoryUnitOfWork(Repositories(InMemoryAuditLog()))


def log_of(uow: InMemoryUnitOfWork[Repositories]) -> InMemoryAuditLog:
    log = uow.repos.log
    assert isinstance(log, InMemoryAuditLog)
    return log
