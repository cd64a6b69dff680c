"""The audit log in Postgres: records to rows and back, the lock that keeps appends one
chain, and the queries ListEvents and VerifyChain read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from audit.domain import EMPTY_CHAIN, AuditRecord, ChainHead, EventFacts, EventQuery
from audit.tables import audit_chain_head, audit_records
from chassis.db import Query, execute, fetch

HEAD_ID = 1
COLUMNS = [c.name for c in audit_records.c]
# Every event appended runs these (the log's hot path): compiled once, run on the driver.
_LOCK_HEAD = Query(
    select(audit_chain_head.c.sequence, audit_chain_head.c.record_hash)
    .where(audit_chain_head.c.id == bindparam("head_id"))
    .with_for_update()
)
_FIND = Query(select(audit_records).where(audit_records.c.event_id == bindparam("event_id")))
_APPEND = Query(audit_records.insert().values({c: bindparam(c) for c in COLUMNS}))
_MOVE_HEAD = Query(
    update(audit_chain_head)
    .where(audit_chain_head.c.id == bindparam("head_id"))
    .values(sequence=bindparam("sequence"), record_hash=bindparam("record_hash"))
)


class AuditLog(Protocol):
    """The log, as the use cases need it (AuditLogRepository in Postgres; tests have an
    in-memory one)."""

    async def lock_head(self) -> ChainHead:
        """The end of the chain, locked until the transaction ends: appenders queue here."""
        ...

    async def head(self) -> ChainHead:
        """The end of the chain as the last append recorded it (unlocked)."""
        ...

    async def find(self, event_id: str) -> AuditRecord | None: ...
    async def append(self, record: AuditRecord) -> None:
        """Adds the record and moves the head to it."""
        ...

    async def get(self, sequence: int) -> AuditRecord | None: ...
    async def between(self, first: int, last: int, *, limit: int) -> list[AuditRecord]:
        """Up to `limit` records with first <= sequence <= last, in sequence order."""
        ...

    async def matching(
        self, query: EventQuery, *, after_sequence: int, limit: int
    ) -> list[AuditRecord]:
        """Up to `limit` records matching `query` after `after_sequence`, in order."""
        ...


@dataclass(frozen=True)
class Repositories:
    """What an audit unit of work gives its use case."""

    log: AuditLog

    @classmethod
    def on(cls, conn: AsyncConnection) -> Repositories:
        return cls(AuditLogRepository(conn))


class AuditLogRepository:
    """Reads and appends audit records inside the caller's transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def lock_head(self) -> ChainHead:
        head = await self._locked_head()
        if head is not None:
            return head
        # No head row: a database emptied by a superuser (tests do). Rebuilt from the log's
        # last record; of concurrent rebuilders one inserts, the others wait and lock it.
        rebuilt = await self._last_record_link()
        await self._conn.execute(
            insert(audit_chain_head)
            .values(id=HEAD_ID, sequence=rebuilt.sequence, record_hash=rebuilt.record_hash)
            .on_conflict_do_nothing(index_elements=[audit_chain_head.c.id])
        )
        head = await self._locked_head()
        assert head is not None  # inserted above, or by whoever we waited for
        return head

    async def head(self) -> ChainHead:
        row = (
            await self._conn.execute(
                select(audit_chain_head.c.sequence, audit_chain_head.c.record_hash)
            )
        ).first()
        if row is None:
            return await self._last_record_link()
        return ChainHead(row.sequence, row.record_hash)

    async def find(self, event_id: str) -> AuditRecord | None:
        rows = await fetch(self._conn, _FIND, {"event_id": event_id})
        return _record(dict(zip(COLUMNS, rows[0], strict=True))) if rows else None

    async def append(self, record: AuditRecord) -> None:
        facts = record.facts
        row = {
            "sequence": record.sequence,
            "event_id": facts.event_id,
            "event_type": facts.type,
            "subject": facts.subject,
            "correlation_id": facts.correlation_id,
            "event_time": facts.time,
            "event": record.event,
            "stream": record.stream,
            "stream_sequence": record.stream_sequence,
            "record_time": record.record_time,
            "previous_hash": record.previous_hash,
            "record_hash": record.record_hash,
        }
        await execute(self._conn, _APPEND, row)
        await execute(
            self._conn,
            _MOVE_HEAD,
            {"head_id": HEAD_ID, "sequence": record.sequence, "record_hash": record.record_hash},
        )

    async def get(self, sequence: int) -> AuditRecord | None:
        row = (
            await self._conn.execute(
                select(audit_records).where(audit_records.c.sequence == sequence)
            )
        ).first()
        return None if row is None else _record(row._mapping)

    async def between(self, first: int, last: int, *, limit: int) -> list[AuditRecord]:
        rows = await self._conn.execute(
            select(audit_records)
            .where(audit_records.c.sequence >= first, audit_records.c.sequence <= last)
            .order_by(audit_records.c.sequence)
            .limit(limit)
        )
        return [_record(row._mapping) for row in rows.all()]

    async def matching(
        self, query: EventQuery, *, after_sequence: int, limit: int
    ) -> list[AuditRecord]:
        statement = select(audit_records).where(audit_records.c.sequence > after_sequence)
        if query.subject:
            statement = statement.where(audit_records.c.subject == query.subject)
        if query.type:
            statement = statement.where(audit_records.c.event_type == query.type)
        if query.correlation_id:
            statement = statement.where(audit_records.c.correlation_id == query.correlation_id)
        if query.start_time is not None:
            statement = statement.where(audit_records.c.event_time >= query.start_time)
        if query.end_time is not None:
            statement = statement.where(audit_records.c.event_time < query.end_time)
        rows = await self._conn.execute(statement.order_by(audit_records.c.sequence).limit(limit))
        return [_record(row._mapping) for row in rows.all()]

    async def _locked_head(self) -> ChainHead | None:
        rows = await fetch(self._conn, _LOCK_HEAD, {"head_id": HEAD_ID})
        return ChainHead(*rows[0]) if rows else None

    async def _last_record_link(self) -> ChainHead:
        row = (
            await self._conn.execute(
                select(audit_records.c.sequence, audit_records.c.record_hash)
                .order_by(audit_records.c.sequence.desc())
                .limit(1)
            )
        ).first()
        return EMPTY_CHAIN if row is None else ChainHead(row.sequence, row.record_hash)


def _record(r: Mapping[Any, Any]) -> AuditRecord:
    return AuditRecord(
        sequence=r["sequence"],
        facts=EventFacts(
            event_id=r["event_id"],
            type=r["event_type"],
            subject=r["subject"],
            correlation_id=r["correlation_id"],
            time=r["event_time"],
        ),
        event=r["event"],
        stream=r["stream"],
        stream_sequence=r["stream_sequence"],
        record_time=r["record_time"],
        previous_hash=r["previous_hash"],
        record_hash=r["record_hash"],
    )
