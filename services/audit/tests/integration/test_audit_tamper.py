"""Tampering with the stored log: the service's role is refused UPDATE, DELETE and
TRUNCATE by the database itself; what a superuser does anyway, VerifyChain names."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from audit_examples import Clock, UnitsOfWork, price_changed, price_envelope, received
from sqlalchemy.engine import make_url

from audit import messages, service
from audit.domain import ChainBreak, Verification
from shop.common.v1.event_pb2 import EventEnvelope

pytestmark = pytest.mark.anyio

SERVICE_ROLE = "audit_tamper_test_svc"  # a login role like the stack's audit_svc: no superuser


@pytest.fixture
def superuser(clean_database: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A superuser's connection to the test's database (what the plugin's tests run as)."""
    url = make_url(clean_database)
    conn = psycopg.connect(
        dbname=url.database, user=url.username, host=str(url.query["host"]), autocommit=True
    )
    yield conn
    conn.close()


async def recorded_log(uow: UnitsOfWork, count: int) -> None:
    for n in range(count):
        await service.record_event(uow(), received(price_envelope(f"SKU-{n}")), clock=Clock())


async def verify(uow: UnitsOfWork) -> Verification:
    return await service.verify_chain(
        uow(), first=None, last=None, facts_of=messages.facts_of_bytes
    )


async def test_an_event_altered_by_a_superuser_is_named(
    uow: UnitsOfWork, superuser: psycopg.Connection[tuple[object, ...]]
) -> None:
    await recorded_log(uow, 5)
    # A cheaper price in the stored event; the indexed columns are left as they were.
    forged = EventEnvelope.FromString(stored_event(superuser, 3))
    forged.data.Pack(price_changed("SKU-2", amount=1))
    superuser.execute(
        "UPDATE audit_records SET event = %s WHERE sequence = 3",
        (messages.canonical_bytes(forged),),
    )

    result = await verify(uow)

    assert (result.first_broken, result.broken_because) == (3, ChainBreak.RECORD_ALTERED)
    assert result.records_checked == 2


async def test_an_index_column_altered_by_a_superuser_is_named(
    uow: UnitsOfWork, superuser: psycopg.Connection[tuple[object, ...]]
) -> None:
    await recorded_log(uow, 3)
    superuser.execute("UPDATE audit_records SET subject = 'products/ELSEWHERE' WHERE sequence = 2")

    result = await verify(uow)

    assert (result.first_broken, result.broken_because) == (2, ChainBreak.RECORD_ALTERED)


async def test_an_entry_deleted_by_a_superuser_is_named(
    uow: UnitsOfWork, superuser: psycopg.Connection[tuple[object, ...]]
) -> None:
    await recorded_log(uow, 5)
    superuser.execute("DELETE FROM audit_records WHERE sequence = 2")

    result = await verify(uow)

    assert (result.first_broken, result.broken_because) == (2, ChainBreak.RECORD_MISSING)
    assert result.records_checked == 1


async def test_the_last_entry_deleted_by_a_superuser_is_named(
    uow: UnitsOfWork, superuser: psycopg.Connection[tuple[object, ...]]
) -> None:
    await recorded_log(uow, 4)
    superuser.execute("DELETE FROM audit_records WHERE sequence = 4")

    result = await verify(uow)

    assert (result.first_broken, result.broken_because) == (4, ChainBreak.RECORD_MISSING)
    assert result.records_checked == 3


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_records SET subject = 'products/ELSEWHERE'",
        "DELETE FROM audit_records",
        "TRUNCATE audit_records",
        "DELETE FROM audit_chain_head",
        "TRUNCATE audit_chain_head",
    ],
)
async def test_the_service_role_cannot_rewrite_history(
    uow: UnitsOfWork, superuser: psycopg.Connection[tuple[object, ...]], statement: str
) -> None:
    await recorded_log(uow, 2)
    as_service_role(superuser)

    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        superuser.execute(statement)

    superuser.execute("RESET ROLE")
    assert (await verify(uow)).intact


async def test_the_service_role_still_appends(
    uow: UnitsOfWork, superuser: psycopg.Connection[tuple[object, ...]]
) -> None:
    await recorded_log(uow, 1)
    as_service_role(superuser)
    # What an append does, by hand: a new record, the head moved to it.
    superuser.execute(
        "INSERT INTO audit_records SELECT 2, gen_random_uuid(), event_type, subject,"
        " correlation_id, event_time, event, stream, stream_sequence, record_time,"
        " previous_hash, record_hash FROM audit_records WHERE sequence = 1"
    )
    superuser.execute("UPDATE audit_chain_head SET sequence = 2")

    assert superuser.execute("SELECT count(*) FROM audit_records").fetchone() == (2,)


def stored_event(conn: psycopg.Connection[tuple[object, ...]], sequence: int) -> bytes:
    row = conn.execute(
        "SELECT event FROM audit_records WHERE sequence = %s", (sequence,)
    ).fetchone()
    assert row is not None
    assert isinstance(row[0], bytes)
    return row[0]


def as_service_role(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Makes the connection act as a non-superuser role with every table privilege, as
    the stack's audit_svc has (SET ROLE: the trigger sees it as current_user)."""
    conn.execute(
        f"DO $$ BEGIN CREATE ROLE {SERVICE_ROLE}; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    conn.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {SERVICE_ROLE}")
    conn.execute(f"SET ROLE {SERVICE_ROLE}")
