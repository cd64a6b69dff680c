"""Typed errors both ways, through a real in-process chassis server: a service's domain
exceptions answer with the code and ErrorReason its map declares, dependency faults with
UNAVAILABLE / RESOURCE_EXHAUSTED / DEADLINE_EXCEEDED and a retry hint, only bugs with
INTERNAL; and a caller gets a peer's answer back as a PeerError it can match on."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import grpc
import grpc.aio
import psycopg
import pytest
from chassis_support import Context, FakeCatalog, running
from google.rpc import error_details_pb2
from psycopg import errors as pg
from sqlalchemy import exc as sa

from chassis import faults, status
from chassis.domain import DomainError, IdempotencyKeyReused
from chassis.errors import (
    IDEMPOTENCY_KEY_REUSED,
    INVALID_PAGE_TOKEN,
    ErrorMap,
    PeerError,
    Reason,
    peer_error,
)
from chassis.logs import JsonFormatter
from shop.catalog.v1 import catalog_service_pb2 as catalog
from shop.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc
from shop.catalog.v1.errors_pb2 import ErrorReason

PRODUCT_NOT_FOUND = Reason.of(ErrorReason, ErrorReason.ERROR_REASON_PRODUCT_NOT_FOUND)


class ProductNotFound(DomainError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"no product {sku}", metadata={"sku": sku})


class DiscontinuedProduct(ProductNotFound):
    """A subclass answers as its nearest mapped ancestor."""


class BadPageToken(DomainError):
    def __init__(self) -> None:
        super().__init__("page token expired", field="page_token")


ERRORS = ErrorMap(
    {
        ProductNotFound: (grpc.StatusCode.NOT_FOUND, PRODUCT_NOT_FOUND),
        BadPageToken: (grpc.StatusCode.INVALID_ARGUMENT, INVALID_PAGE_TOKEN),
    }
)


def failing_with(error: BaseException) -> FakeCatalog:
    async def fail(
        request: catalog.GetProductRequest, context: Context
    ) -> catalog.GetProductResponse:
        raise error

    return FakeCatalog(fail)


def answer(servicer: FakeCatalog) -> grpc.aio.AioRpcError:
    async def call() -> grpc.aio.AioRpcError:
        async with running(servicer, errors=ERRORS) as (_, channel):
            stub = catalog_grpc.CatalogServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.GetProduct(catalog.GetProductRequest(sku="SKU-1"))
            return raised.value

    return asyncio.run(call())


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter("catalog", "catalog-test"))
    chassis_logger = logging.getLogger("chassis")
    chassis_logger.addHandler(handler)
    chassis_logger.setLevel(logging.INFO)
    yield buffer
    chassis_logger.removeHandler(handler)


def logged(buffer: io.StringIO, logger: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    return [line for line in lines if line["logger"] == logger]


def test_a_reason_is_checked_against_its_contract() -> None:
    assert Reason("catalog.shop.local", "PRODUCT_NOT_FOUND") == PRODUCT_NOT_FOUND
    assert Reason("shop.local", "IDEMPOTENCY_KEY_REUSED") == IDEMPOTENCY_KEY_REUSED
    with pytest.raises(ValueError, match="defines no reason 99"):
        Reason.of(ErrorReason, 99)


@pytest.mark.parametrize("raised", [ProductNotFound("SKU-1"), DiscontinuedProduct("SKU-1")])
def test_a_mapped_domain_error_answers_with_its_code_and_reason(raised: DomainError) -> None:
    error = answer(failing_with(raised))

    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error.details() == "no product SKU-1"
    info = status.error_info(error)
    assert info is not None
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "PRODUCT_NOT_FOUND",
        "catalog.shop.local",
        {"sku": "SKU-1"},
    )


def test_a_domain_error_naming_a_field_carries_a_field_violation() -> None:
    error = answer(failing_with(BadPageToken()))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_request = status.detail(error, error_details_pb2.BadRequest)
    assert bad_request is not None
    assert [(v.field, v.description) for v in bad_request.field_violations] == [
        ("page_token", "page token expired")
    ]
    info = status.error_info(error)
    assert info is not None
    assert (info.reason, info.domain) == ("INVALID_PAGE_TOKEN", "shop.local")


def test_the_chassis_maps_its_own_outcomes_for_every_service() -> None:
    error = answer(failing_with(IdempotencyKeyReused("key reused")))

    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    info = status.error_info(error)
    assert info is not None
    assert (info.reason, info.domain) == ("IDEMPOTENCY_KEY_REUSED", "shop.local")


def db_error(cause: Exception) -> sa.OperationalError:
    return sa.OperationalError("SELECT 1", {}, cause)


def connection_lost() -> sa.OperationalError:
    return db_error(psycopg.OperationalError("connection failed: Connection refused"))


UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
DEADLINE_EXCEEDED = grpc.StatusCode.DEADLINE_EXCEEDED


@pytest.mark.parametrize(
    ("raised", "code"),
    [
        (connection_lost(), UNAVAILABLE),
        (db_error(pg.AdminShutdown("terminating connection")), UNAVAILABLE),
        (db_error(pg.SerializationFailure("could not serialize")), UNAVAILABLE),
        (db_error(pg.DeadlockDetected("deadlock detected")), UNAVAILABLE),
        (sa.TimeoutError("QueuePool limit reached"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (db_error(pg.QueryCanceled("statement timeout")), DEADLINE_EXCEEDED),
        (db_error(pg.LockNotAvailable("lock timeout")), DEADLINE_EXCEEDED),
        (PeerError(UNAVAILABLE, "no healthy upstream"), UNAVAILABLE),
        (PeerError(DEADLINE_EXCEEDED, "too slow"), DEADLINE_EXCEEDED),
        (ConnectionRefusedError("nats"), UNAVAILABLE),
        (faults.Overloaded("too many orders in progress", 1.0), grpc.StatusCode.RESOURCE_EXHAUSTED),
    ],
)
def test_a_dependency_fault_is_never_internal(
    raised: Exception, code: grpc.StatusCode, log_lines: io.StringIO
) -> None:
    error = answer(failing_with(raised))

    assert error.code() == code
    assert "Traceback" not in log_lines.getvalue()  # a fault is not a bug
    [line] = logged(log_lines, "chassis.errors")
    assert line["level"] == "WARNING"
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
        retry = status.detail(error, error_details_pb2.RetryInfo)
        assert retry is not None
        assert retry.retry_delay.ToTimedelta().total_seconds() > 0


@pytest.mark.parametrize(
    "raised",
    [
        RuntimeError("connection string postgresql://secret"),
        sa.ProgrammingError("SELECT nope", {}, pg.UndefinedColumn('column "nope"')),
        PeerError(grpc.StatusCode.INVALID_ARGUMENT, "we sent a bad request"),
    ],
)
def test_only_a_bug_is_internal_with_its_traceback_only_in_the_log(
    raised: Exception, log_lines: io.StringIO
) -> None:
    error = answer(failing_with(raised))

    assert error.code() == grpc.StatusCode.INTERNAL
    assert error.details() == "internal error"
    assert "secret" not in str(error.trailing_metadata())
    [line] = logged(log_lines, "chassis.errors")
    assert line["level"] == "ERROR"
    assert type(raised).__name__ in str(line["exception"])


def test_a_callers_peer_error_carries_the_callees_reason_and_retry_hint() -> None:
    not_found = answer(failing_with(ProductNotFound("SKU-1")))
    unavailable = answer(failing_with(connection_lost()))

    refused, transient = peer_error(not_found), peer_error(unavailable)

    assert refused.reason == PRODUCT_NOT_FOUND  # what a saga matches on
    assert refused.metadata == {"sku": "SKU-1"}
    assert not refused.transient
    assert transient.transient
    assert transient.reason is None
    assert transient.retry_delay_s == 1.0
