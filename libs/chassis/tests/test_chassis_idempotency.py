"""run_once(): one outcome per idempotency key, against a real PostgreSQL."""

import asyncio
import uuid

import pytest
from sqlalchemy import text

from chassis.db import Database
from chassis.errors import AlreadyExists
from chassis.idempotency import run_once
from shop.catalog.v1 import catalog_service_pb2 as catalog
from shop.catalog.v1 import product_pb2

METHOD = "/shop.catalog.v1.CatalogService/UpsertProduct"


def upsert(key: str, name: str) -> catalog.UpsertProductRequest:
    return catalog.UpsertProductRequest(
        idempotency_key=key, product=product_pb2.Product(sku="SKU-1", name=name)
    )


class Work:
    """The use case behind the call: counts its runs; each returns a new version."""

    def __init__(self) -> None:
        self.runs = 0
        self.started = asyncio.Event()
        self.may_finish = asyncio.Event()
        self.may_finish.set()

    async def __call__(self) -> catalog.UpsertProductResponse:
        self.runs += 1
        self.started.set()
        await self.may_finish.wait()
        return catalog.UpsertProductResponse(
            product=product_pb2.Product(sku="SKU-1", version=self.runs), created=True
        )


async def call(
    db: Database, request: catalog.UpsertProductRequest, work: Work
) -> catalog.UpsertProductResponse:
    async with db.transaction() as conn:
        return await run_once(
            conn,
            key=request.idempotency_key,
            method=METHOD,
            request=request,
            response_type=catalog.UpsertProductResponse,
            work=work,
        )


def test_a_retry_returns_the_stored_response_without_running_the_work_again(
    chassis_db: str,
) -> None:
    request = upsert(str(uuid.uuid4()), "Teapot")
    work = Work()

    async def scenario() -> tuple[catalog.UpsertProductResponse, catalog.UpsertProductResponse]:
        db = Database(chassis_db)
        try:
            return await call(db, request, work), await call(db, request, work)
        finally:
            await db.dispose()

    first, retry = asyncio.run(scenario())

    assert work.runs == 1
    assert retry == first
    assert first.product.version == 1


def test_a_key_reused_for_another_request_is_refused(chassis_db: str) -> None:
    key = str(uuid.uuid4())
    work = Work()

    async def scenario() -> AlreadyExists:
        db = Database(chassis_db)
        try:
            await call(db, upsert(key, "Teapot"), work)
            with pytest.raises(AlreadyExists) as refused:
                await call(db, upsert(key, "Kettle"), work)
            return refused.value
        finally:
            await db.dispose()

    refused = asyncio.run(scenario())

    assert refused.reason == "IDEMPOTENCY_KEY_REUSED"
    assert work.runs == 1


def test_a_failed_call_leaves_the_key_free_for_its_retry(chassis_db: str) -> None:
    request = upsert(str(uuid.uuid4()), "Teapot")

    async def failing() -> catalog.UpsertProductResponse:
        raise RuntimeError("the use case failed")

    async def scenario() -> catalog.UpsertProductResponse:
        db = Database(chassis_db)
        try:
            with pytest.raises(RuntimeError):
                async with db.transaction() as conn:
                    await run_once(
                        conn,
                        key=request.idempotency_key,
                        method=METHOD,
                        request=request,
                        response_type=catalog.UpsertProductResponse,
                        work=failing,
                    )
            return await call(db, request, Work())
        finally:
            await db.dispose()

    assert asyncio.run(scenario()).product.version == 1


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
    raise AssertionError("the second call never waited for the first")


def test_concurrent_calls_with_one_key_run_the_work_once(chassis_db: str) -> None:
    request = upsert(str(uuid.uuid4()), "Teapot")
    work = Work()
    work.may_finish.clear()

    async def scenario() -> list[catalog.UpsertProductResponse]:
        db = Database(chassis_db)
        try:
            first = asyncio.create_task(call(db, request, work))
            await work.started.wait()  # the first call holds the key, its work unfinished
            second = asyncio.create_task(call(db, request, work))
            await wait_until_a_session_waits_for_a_lock(db)
            work.may_finish.set()
            return list(await asyncio.gather(first, second))
        finally:
            await db.dispose()

    first, second = asyncio.run(scenario())

    assert work.runs == 1
    assert second == first
