"""The order history on Postgres: every fact applied in any order, and again, gives the
same entry; ListOrders with a consistency token waits for the history to show the write,
or answers VIEW_NOT_CAUGHT_UP (with a RetryInfo) within the call's deadline."""

from __future__ import annotations

import asyncio
import functools
import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2
from orders_fakes import ADDRESS, FakePeers, command
from orders_projection import project_outbox

from chassis import status
from chassis.app import Runtime, ServiceApp
from chassis.testing import serving
from orders import main, service
from orders.domain import (
    CatalogPrice,
    DeliveryStatus,
    Money,
    OrderLine,
    OrderStatus,
    PaymentStatus,
    ShippingSpeed,
)
from orders.grpc_api import ERRORS
from orders.history import DeliveryFact, Entry, OrderFact, PaymentFact
from orders.repository import Repositories
from orders.service import Caller, UoW
from shop.orders.v1 import order_pb2
from shop.orders.v1 import orders_service_pb2 as pb
from shop.orders.v1.orders_service_pb2_grpc import OrdersServiceStub

pytestmark = pytest.mark.anyio
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ALICE = (("x-shop-subject", "alice"), ("x-shop-role", "customer"))
Fact = OrderFact | PaymentFact | DeliveryFact


def life(order_id: str) -> list[Fact]:
    """Everything the history hears about one order placed, confirmed, then cancelled."""
    at = [T0 + timedelta(seconds=s) for s in range(10)]
    lines = (OrderLine("SKU-1", "Mug", 2, Money("EUR", 1250)),)
    total = Money("EUR", 3000)

    def order(version: int, status: OrderStatus, when: datetime, **more: object) -> OrderFact:
        fact = OrderFact(order_id, "alice", version, status, when, speed=ShippingSpeed.STANDARD)
        return replace(fact, **more)  # type: ignore[arg-type]

    reason = "changed my mind"
    return [
        order(1, OrderStatus.PENDING, at[0], total=total, lines=lines, address=ADDRESS),
        DeliveryFact(order_id, "ship-1", DeliveryStatus.CREATED, at[1]),
        PaymentFact(order_id, "pay-1", PaymentStatus.CAPTURED, at[2]),
        order(6, OrderStatus.CONFIRMED, at[3], total=total, payment_id="pay-1"),
        order(7, OrderStatus.CANCELLING, at[4], lines=lines, cancel_reason=reason),
        PaymentFact(order_id, "pay-1", PaymentStatus.REFUNDED, at[5]),
        DeliveryFact(order_id, "ship-1", DeliveryStatus.CANCELLED, at[6]),
        order(10, OrderStatus.CANCELLED, at[7], cancel_reason=reason),
    ]


async def apply(unit_of_work: UoW, fact: Fact, key: str) -> None:
    match fact:
        case OrderFact():
            await service.on_order_event(unit_of_work, event_key=key, fact=fact)
        case PaymentFact():
            await service.on_payment_event(unit_of_work, event_key=key, fact=fact, undone=None)
        case DeliveryFact():
            await service.on_shipment_event(unit_of_work, event_key=key, fact=fact)


async def entry(unit_of_work: UoW, order_id: str) -> Entry:
    async with unit_of_work().read() as uow:
        found = await uow.repos.history.page("alice", status=None, after=None, limit=100)
    [mine] = [e for e in found if e.order_id == order_id]
    return mine


async def test_facts_in_any_order_and_again_give_the_same_entry(runtime: Runtime) -> None:
    unit_of_work = runtime.units_of_work(Repositories.on)
    in_order = str(uuid.uuid4())
    for fact in life(in_order):
        await apply(unit_of_work, fact, str(uuid.uuid4()))
    expected = replace(await entry(unit_of_work, in_order), order_id="")
    assert expected.status is OrderStatus.CANCELLED
    assert expected.version == 10
    assert (expected.payment_status, expected.delivery_status) == (
        PaymentStatus.REFUNDED,
        DeliveryStatus.CANCELLED,
    )
    assert expected.created_at == T0
    assert expected.total == Money("EUR", 3000)
    assert expected.cancel_reason == "changed my mind"

    shuffler = random.Random(7)
    for attempt in range(4):
        order_id = str(uuid.uuid4())
        facts = life(order_id)
        scrambled = list(reversed(facts)) if attempt == 0 else shuffler.sample(facts, len(facts))
        keys = [str(uuid.uuid4()) for _ in scrambled]
        for fact, key in zip(scrambled, keys, strict=True):
            await apply(unit_of_work, fact, key)
        for fact, key in zip(scrambled, keys, strict=True):
            await apply(unit_of_work, fact, key)  # redelivered: the inbox drops it
            await apply(unit_of_work, fact, str(uuid.uuid4()))  # republished: monotonic
        assert replace(await entry(unit_of_work, order_id), order_id="") == expected, scrambled


async def test_an_entry_only_payments_or_shipping_spoke_of_is_not_listed(
    runtime: Runtime,
) -> None:
    unit_of_work = runtime.units_of_work(Repositories.on)
    order_id = str(uuid.uuid4())
    await apply(
        unit_of_work, PaymentFact(order_id, "p", PaymentStatus.CAPTURED, T0), str(uuid.uuid4())
    )
    async with unit_of_work().read() as uow:
        assert await uow.repos.history.page(None, status=None, after=None, limit=10) == []
        assert await uow.repos.history.version_of(order_id, None) == 0


async def _placed(runtime: Runtime) -> tuple[str, str]:
    unit_of_work = runtime.units_of_work(Repositories.on)
    price = CatalogPrice("SKU-1", "Mug", Money("EUR", 1250), 1)
    await service.project_product(unit_of_work, event_key=str(uuid.uuid4()), price=price)
    order = await service.place_order(
        unit_of_work, idempotency_key=str(uuid.uuid4()), command=command(), shipping=FakePeers()
    )
    return order.order_id, service.consistency_token(order)


async def test_a_read_with_a_token_waits_until_the_history_shows_the_write(
    runtime: Runtime,
) -> None:
    unit_of_work = runtime.units_of_work(Repositories.on)
    order_id, token = await _placed(runtime)
    alice = Caller("alice")
    listing = functools.partial(
        service.list_orders, unit_of_work, status=None, page_size=0, page_token=""
    )
    assert (await listing(alice)).orders == []  # without a token: what the view has now
    with pytest.raises(service.ViewNotCaughtUp):
        await listing(alice, consistency_token=token, wait_s=0.1)

    async def project_soon() -> None:
        await asyncio.sleep(0.2)
        await project_outbox(runtime)

    waited, _ = await asyncio.gather(
        listing(alice, consistency_token=token, wait_s=30), project_soon()
    )
    assert [e.order_id for e in waited.orders] == [order_id]
    with pytest.raises(service.ViewNotCaughtUp):  # another customer's token never shows
        await listing(Caller("bob"), consistency_token=token, wait_s=0.1)
    admin = await listing(Caller("ops", admin=True), consistency_token=token, wait_s=0.1)
    assert [e.order_id for e in admin.orders] == [order_id]


async def test_the_api_answers_view_not_caught_up_within_the_call_deadline(
    runtime: Runtime,
) -> None:
    _, token = await _placed(runtime)
    app = ServiceApp(
        "orders",
        wire=functools.partial(main.wire, backfill=False),
        errors=ERRORS,
        migrations=main.MIGRATIONS_DIR,
    )
    async with serving(app, runtime) as channel:
        stub = OrdersServiceStub(channel)
        request = pb.ListOrdersRequest(consistency_token=token)
        with pytest.raises(grpc.aio.AioRpcError) as lagging:
            # A deadline well under the 3 s cap: the wait ends before it, with an answer.
            await stub.ListOrders(request, metadata=ALICE, timeout=1.0)
        assert lagging.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        info = status.detail(lagging.value, error_details_pb2.ErrorInfo)
        assert info is not None
        assert info.reason == "VIEW_NOT_CAUGHT_UP"
        retry = status.detail(lagging.value, error_details_pb2.RetryInfo)
        assert retry is not None
        assert retry.retry_delay.ToTimedelta() == timedelta(seconds=1)
        with pytest.raises(grpc.aio.AioRpcError) as malformed:
            await stub.ListOrders(pb.ListOrdersRequest(consistency_token="x"), metadata=ALICE)
        assert malformed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        await project_outbox(runtime)
        caught_up = await stub.ListOrders(request, metadata=ALICE, timeout=5.0)
        [shown] = caught_up.orders
        assert shown.status == order_pb2.ORDER_STATUS_PENDING
        assert shown.total.amount_minor == 2 * 1250 + 500
        assert shown.shipping_cost.amount_minor == 500
