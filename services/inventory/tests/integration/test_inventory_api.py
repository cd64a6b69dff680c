"""Inventory over gRPC, end to end in-process: the chassis server with its interceptors,
the migration gate, the seed on start and the expiry sweeper, called through a real
grpc.aio channel. The instance runs on a clock the tests move."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2
from inventory_examples import Clock

from chassis import status
from chassis.app import Runtime, ServiceApp
from chassis.db import Database
from chassis.migrations import upgrade_to_head
from chassis.testing import outbox_events, serving
from chassis.testing.plugin import PostgresServer, instance_settings
from chassis.testing.server import health
from inventory import seed
from inventory.main import wire
from inventory.settings import InventorySettings
from shop.inventory.v1 import inventory_service_pb2 as pb
from shop.inventory.v1 import reservation_pb2
from shop.inventory.v1.inventory_service_pb2_grpc import InventoryServiceStub

if TYPE_CHECKING:  # the async stub type exists only in the type stubs
    from shop.inventory.v1.inventory_service_pb2_grpc import InventoryServiceAsyncStub

pytestmark = pytest.mark.anyio

SEED = seed.load()
DOMAIN = "inventory.shop.local"


@pytest.fixture(scope="module")
def clock() -> Clock:
    """The instance's time; starts now, so the seed's timestamps and ours agree."""
    return Clock(start=datetime.now(UTC))


@pytest.fixture(scope="module")
def served_app(service_app: ServiceApp, clock: Clock) -> ServiceApp:
    """The inventory app on the tests' clock, sweeping often."""
    settings = InventorySettings(expiry_sweep_interval_s=0.05)
    return dataclasses.replace(
        service_app, wire=functools.partial(wire, settings=settings, clock=clock)
    )


@pytest.fixture(scope="module")
def inventory(channel: grpc.aio.Channel) -> InventoryServiceAsyncStub:
    return InventoryServiceStub(channel)


def key() -> str:
    return str(uuid.uuid4())


def line(sku: str, quantity: int) -> reservation_pb2.ReservationLine:
    return reservation_pb2.ReservationLine(sku=sku, quantity=quantity)


def reserve_request(*lines: tuple[str, int], ttl_s: int = 0) -> pb.ReserveStockRequest:
    request = pb.ReserveStockRequest(
        idempotency_key=key(), order_id=str(uuid.uuid4()), lines=[line(*ln) for ln in lines]
    )
    if ttl_s:
        request.ttl.CopyFrom(Duration(seconds=ttl_s))
    return request


async def receive(inventory: InventoryServiceAsyncStub, sku: str, units: int) -> None:
    await inventory.AdjustStock(
        pb.AdjustStockRequest(idempotency_key=key(), sku=sku, delta=units, reason="receipt")
    )


async def refusal(call: Awaitable[object]) -> tuple[grpc.StatusCode, str, grpc.aio.AioRpcError]:
    """The code and ErrorInfo reason of a call that must fail (and the error itself)."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    info = status.error_info(raised.value)
    assert info is not None
    assert info.domain in (DOMAIN, "shop.local")
    return raised.value.code(), info.reason, raised.value


async def test_get_stock_returns_a_seeded_level(inventory: InventoryServiceAsyncStub) -> None:
    expected = SEED.stock[0]

    response = await inventory.GetStock(pb.GetStockRequest(sku=expected.sku))

    level = response.stock_level
    assert (level.sku, level.reserved, level.version) == (expected.sku, 0, 1)
    assert level.on_hand == level.available == expected.on_hand
    assert level.HasField("low_stock_threshold")
    assert level.low_stock_threshold == expected.low_stock_threshold
    assert level.update_time.seconds > 0


async def test_reserve_then_confirm_moves_the_units_and_a_replay_returns_the_same(
    inventory: InventoryServiceAsyncStub,
) -> None:
    await receive(inventory, "API-KNIFE-1", 10)
    request = reserve_request(("API-KNIFE-1", 3), ttl_s=120)

    reserved = await inventory.ReserveStock(request)
    replay = await inventory.ReserveStock(request)
    confirm = pb.ConfirmReservationRequest(
        idempotency_key=key(), reservation_id=reserved.reservation.reservation_id
    )
    confirmed = await inventory.ConfirmReservation(confirm)
    confirm_replay = await inventory.ConfirmReservation(confirm)
    level = (await inventory.GetStock(pb.GetStockRequest(sku="API-KNIFE-1"))).stock_level

    reservation = reserved.reservation
    assert replay == reserved
    assert reservation.status == reservation_pb2.RESERVATION_STATUS_PENDING
    assert reservation.order_id == request.order_id
    assert list(reservation.lines) == list(request.lines)
    assert reservation.expire_time.seconds - reservation.create_time.seconds == 120
    assert confirmed.reservation.status == reservation_pb2.RESERVATION_STATUS_CONFIRMED
    assert confirmed.reservation.version == 2
    assert confirm_replay == confirmed
    assert (level.on_hand, level.reserved, level.available) == (7, 0, 7)


async def test_release_then_release_again_returns_the_released_reservation(
    inventory: InventoryServiceAsyncStub,
) -> None:
    await receive(inventory, "API-PAN-1", 2)
    reserved = (await inventory.ReserveStock(reserve_request(("API-PAN-1", 2)))).reservation

    def release() -> pb.ReleaseReservationRequest:
        return pb.ReleaseReservationRequest(
            idempotency_key=key(), reservation_id=reserved.reservation_id, reason="no payment"
        )

    first = await inventory.ReleaseReservation(release())
    again = await inventory.ReleaseReservation(release())

    assert first.reservation.status == reservation_pb2.RESERVATION_STATUS_RELEASED
    assert again == first
    level = (await inventory.GetStock(pb.GetStockRequest(sku="API-PAN-1"))).stock_level
    assert level.available == 2


async def test_a_short_reservation_names_every_short_sku(
    inventory: InventoryServiceAsyncStub,
) -> None:
    await receive(inventory, "API-LAMP-1", 1)
    await receive(inventory, "API-DESK-1", 5)

    code, reason, error = await refusal(
        inventory.ReserveStock(
            reserve_request(("API-DESK-1", 2), ("API-LAMP-1", 2), ("API-NEVER-1", 1))
        )
    )

    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_STOCK")
    failure = status.detail(error, error_details_pb2.PreconditionFailure)
    assert failure is not None
    assert [(v.type, v.subject, v.description) for v in failure.violations] == [
        ("STOCK", "API-LAMP-1", "requested 2, available 1"),
        ("STOCK", "API-NEVER-1", "requested 1, available 0"),
    ]
    level = (await inventory.GetStock(pb.GetStockRequest(sku="API-DESK-1"))).stock_level
    assert level.reserved == 0  # all or nothing


async def test_a_bad_request_is_invalid_argument_naming_the_fields(
    inventory: InventoryServiceAsyncStub,
) -> None:
    request = pb.ReserveStockRequest(
        idempotency_key="not-a-uuid",
        order_id=str(uuid.uuid4()),
        lines=[line("API-KNIFE-1", 0), line("bad sku", 1)],
    )
    request.ttl.CopyFrom(Duration(seconds=7200))

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inventory.ReserveStock(request)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_request = status.detail(raised.value, error_details_pb2.BadRequest)
    assert bad_request is not None
    assert {v.field for v in bad_request.field_violations} == {
        "idempotency_key",
        "lines[0].quantity",
        "lines[1].sku",
        "ttl",
    }


async def test_an_adjustment_without_reason_or_delta_is_invalid_argument(
    inventory: InventoryServiceAsyncStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await inventory.AdjustStock(pb.AdjustStockRequest(idempotency_key=key(), sku="API-KNIFE-1"))

    bad_request = status.detail(raised.value, error_details_pb2.BadRequest)
    assert bad_request is not None
    assert {v.field for v in bad_request.field_violations} == {"delta", "reason"}


async def test_each_refusal_carries_the_contracts_reason(
    inventory: InventoryServiceAsyncStub, clock: Clock
) -> None:
    await receive(inventory, "API-CHAIR-1", 3)
    unknown = str(uuid.uuid4())

    async def reservation(ttl_s: int = 600) -> str:
        made = await inventory.ReserveStock(reserve_request(("API-CHAIR-1", 1), ttl_s=ttl_s))
        return made.reservation.reservation_id

    def confirm(reservation_id: str) -> Awaitable[object]:
        return inventory.ConfirmReservation(
            pb.ConfirmReservationRequest(idempotency_key=key(), reservation_id=reservation_id)
        )

    def release(reservation_id: str) -> Awaitable[object]:
        return inventory.ReleaseReservation(
            pb.ReleaseReservationRequest(idempotency_key=key(), reservation_id=reservation_id)
        )

    confirmed, released, expiring = await reservation(), await reservation(), await reservation(1)
    await confirm(confirmed)
    await release(released)
    clock.advance(2)

    failed = grpc.StatusCode.FAILED_PRECONDITION
    not_found = grpc.StatusCode.NOT_FOUND
    expected: list[tuple[Awaitable[object], grpc.StatusCode, str]] = [
        (
            inventory.GetStock(pb.GetStockRequest(sku="API-NONE-1")),
            not_found,
            "STOCK_LEVEL_NOT_FOUND",
        ),
        (confirm(unknown), not_found, "RESERVATION_NOT_FOUND"),
        (release(unknown), not_found, "RESERVATION_NOT_FOUND"),
        (confirm(expiring), failed, "RESERVATION_EXPIRED"),
        (confirm(released), failed, "RESERVATION_RELEASED"),
        (release(confirmed), failed, "RESERVATION_ALREADY_CONFIRMED"),
        (
            inventory.AdjustStock(
                pb.AdjustStockRequest(
                    idempotency_key=key(), sku="API-CHAIR-1", delta=-3, reason="count"
                )
            ),
            failed,
            "ADJUSTMENT_BELOW_RESERVED",
        ),
    ]
    for call, code, reason in expected:
        assert (await refusal(call))[:2] == (code, reason)


async def test_reusing_a_key_for_another_request_is_already_exists_for_every_command(
    inventory: InventoryServiceAsyncStub,
) -> None:
    await receive(inventory, "API-BAG-1", 10)
    first, second = [
        (await inventory.ReserveStock(reserve_request(("API-BAG-1", 1)))).reservation
        for _ in range(2)
    ]
    reused = [key() for _ in range(4)]
    firsts: list[Awaitable[object]] = [
        inventory.ReserveStock(
            pb.ReserveStockRequest(
                idempotency_key=reused[0], order_id=first.order_id, lines=[line("API-BAG-1", 1)]
            )
        ),
        inventory.ConfirmReservation(
            pb.ConfirmReservationRequest(
                idempotency_key=reused[1], reservation_id=first.reservation_id
            )
        ),
        inventory.ReleaseReservation(
            pb.ReleaseReservationRequest(
                idempotency_key=reused[2], reservation_id=second.reservation_id
            )
        ),
        inventory.AdjustStock(
            pb.AdjustStockRequest(idempotency_key=reused[3], sku="API-BAG-1", delta=1, reason="a")
        ),
    ]
    for call in firsts:
        await call
    others: list[Awaitable[object]] = [
        inventory.ReserveStock(
            pb.ReserveStockRequest(
                idempotency_key=reused[0], order_id=first.order_id, lines=[line("API-BAG-1", 2)]
            )
        ),
        inventory.ConfirmReservation(
            pb.ConfirmReservationRequest(
                idempotency_key=reused[1], reservation_id=second.reservation_id
            )
        ),
        inventory.ReleaseReservation(
            pb.ReleaseReservationRequest(
                idempotency_key=reused[2], reservation_id=second.reservation_id, reason="other"
            )
        ),
        inventory.AdjustStock(
            pb.AdjustStockRequest(idempotency_key=reused[3], sku="API-BAG-1", delta=2, reason="a")
        ),
    ]

    for call in others:
        assert (await refusal(call))[:2] == (
            grpc.StatusCode.ALREADY_EXISTS,
            "IDEMPOTENCY_KEY_REUSED",
        )


async def test_the_instance_sweeps_expired_reservations_back_into_stock(
    inventory: InventoryServiceAsyncStub, clock: Clock, module_db: Database
) -> None:
    await receive(inventory, "API-TENT-1", 4)
    reserved = (
        await inventory.ReserveStock(reserve_request(("API-TENT-1", 4), ttl_s=5))
    ).reservation
    clock.advance(5)

    async def stock_returned() -> None:
        while True:
            level = (await inventory.GetStock(pb.GetStockRequest(sku="API-TENT-1"))).stock_level
            if level.available == 4:
                return
            await asyncio.sleep(0.05)

    async with asyncio.timeout(30):  # the sweeper's, not a threshold
        await stock_returned()
    released = await inventory.ReleaseReservation(
        pb.ReleaseReservationRequest(idempotency_key=key(), reservation_id=reserved.reservation_id)
    )
    assert released.reservation.status == reservation_pb2.RESERVATION_STATUS_EXPIRED
    events = await outbox_events(module_db, aggregate=f"reservations/{reserved.reservation_id}")
    assert [e.subject for e in events] == [
        "inventory.reservation.stock_reserved",
        "inventory.reservation.released",
    ]


async def test_events_carry_the_callers_request_id(
    inventory: InventoryServiceAsyncStub, module_db: Database
) -> None:
    await receive(inventory, "API-MUG-1", 1)

    reserved = await inventory.ReserveStock(
        reserve_request(("API-MUG-1", 1)), metadata=(("x-request-id", "req-42"),)
    )

    aggregate = f"reservations/{reserved.reservation.reservation_id}"
    [event] = await outbox_events(module_db, aggregate=aggregate)
    assert event.envelope.correlation_id == "req-42"
    assert event.envelope.source == "//inventory.shop.local"


async def test_the_service_seeds_and_serves_only_once_its_schema_is_migrated(
    service_app: ServiceApp, postgres_server: PostgresServer
) -> None:
    url = postgres_server.create_database("inventory_gate_test")  # not migrated yet
    db = Database(url)
    runtime = Runtime(instance_settings("inventory", url), db)
    try:
        async with contextlib.AsyncExitStack() as stack:
            started = asyncio.create_task(stack.enter_async_context(serving(service_app, runtime)))
            await asyncio.sleep(0.3)
            assert not started.done(), "served before its schema was migrated"

            await asyncio.to_thread(upgrade_to_head, url, service_app.migrations)
            async with asyncio.timeout(60):
                channel = await started

            assert await health(channel) == health_pb2.HealthCheckResponse.SERVING
            last = SEED.stock[-1]
            stocked = await InventoryServiceStub(channel).GetStock(pb.GetStockRequest(sku=last.sku))
            assert stocked.stock_level.on_hand == last.on_hand
    finally:
        await db.dispose()
        postgres_server.drop_database("inventory_gate_test")
