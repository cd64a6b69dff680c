"""The saga end to end in-process: orders' real instance (its API, its runner) on Postgres,
payments, inventory and shipping as real gRPC servers the test controls. Each failure path
ends REJECTED with nothing left open at the peers; a crashed runner is resumed with no
second effect; PlaceOrder twice with one key gives one order."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
import grpc.aio
import pytest
from google.rpc import error_details_pb2
from orders_peer_servers import PeerServers, peer_server
from orders_projection import project_outbox

from chassis import status
from chassis.app import Runtime, ServiceApp
from chassis.db import Database
from chassis.testing import outbox_events, serving
from chassis.testing.plugin import instance_settings
from orders import main, service
from orders.domain import CatalogPrice, Money
from orders.grpc_api import ERRORS
from orders.repository import Repositories
from orders.runner import SagaRunner
from shop.common.v1 import address_pb2, money_pb2
from shop.orders.v1 import order_pb2
from shop.orders.v1 import orders_service_pb2 as pb
from shop.orders.v1.orders_service_pb2_grpc import OrdersServiceStub

if TYPE_CHECKING:
    from shop.orders.v1.orders_service_pb2_grpc import OrdersServiceAsyncStub

pytestmark = pytest.mark.anyio
ALICE = (("x-shop-subject", "alice"), ("x-shop-role", "customer"))
FINAL = (order_pb2.ORDER_STATUS_CONFIRMED, order_pb2.ORDER_STATUS_REJECTED)
APP = ServiceApp(
    "orders",
    wire=functools.partial(main.wire, poll_interval_s=0.05, backfill=False),
    errors=ERRORS,
    migrations=main.MIGRATIONS_DIR,
)


def request(token: str = "tok_visa", country: str = "DE", **fields: object) -> pb.PlaceOrderRequest:
    address = address_pb2.Address(
        recipient="Alice",
        lines=["1 Main St"],
        locality="Berlin",
        postal_code="10115",
        country_code=country,
    )
    return pb.PlaceOrderRequest(
        idempotency_key=str(uuid.uuid4()),
        lines=[pb.PlaceOrderLine(sku="SKU-1", quantity=2)],
        shipping_address=address,
        shipping_speed=order_pb2.SHIPPING_SPEED_STANDARD,
        currency_code="EUR",
        payment_token=token,
        **fields,  # type: ignore[arg-type]
    )


@dataclass
class Stack:
    stub: OrdersServiceAsyncStub
    peers: PeerServers
    runtime: Runtime

    async def settled(self, order_id: str) -> order_pb2.Order:
        for _ in range(400):
            reply = await self.stub.GetOrder(pb.GetOrderRequest(order_id=order_id), metadata=ALICE)
            if reply.order.status in FINAL:
                order: order_pb2.Order = reply.order
                return order
            await asyncio.sleep(0.025)
        raise AssertionError(f"order {order_id} did not settle")

    def nothing_open(self) -> bool:
        shipments = [s for s, st in self.peers.shipping.status.items() if st == "PENDING"]
        return not (self.peers.payments.open() or self.peers.inventory.open() or shipments)


async def _seed(runtime: Runtime) -> None:
    price = CatalogPrice("SKU-1", "Mug", Money("EUR", 1250), 1)
    uow = runtime.units_of_work(Repositories.on)
    await service.project_product(uow, event_key=str(uuid.uuid4()), price=price)


@pytest.fixture
async def stack(db: Database, clean_database: str) -> AsyncIterator[Stack]:
    peers = PeerServers()
    async with peer_server(peers) as address:
        settings = instance_settings("orders", clean_database, mesh_outbound=address)
        runtime = Runtime(settings, db)
        await _seed(runtime)
        async with serving(APP, runtime) as channel:
            yield Stack(OrdersServiceStub(channel), peers, runtime)


async def test_an_order_is_confirmed(stack: Stack) -> None:
    placed = await stack.stub.PlaceOrder(request(), metadata=ALICE)
    assert placed.order.status == order_pb2.ORDER_STATUS_PENDING
    assert placed.order.total.amount_minor == 2 * 1250 + 500
    assert placed.consistency_token
    order = await stack.settled(placed.order.order_id)
    assert order.status == order_pb2.ORDER_STATUS_CONFIRMED
    assert order.payment_id and order.reservation_id and order.shipment_id  # noqa: PT018
    assert stack.peers.payments.status[order.payment_id] == "CAPTURED"
    assert stack.peers.inventory.status[order.reservation_id] == "CONFIRMED"
    subjects = [e.subject for e in await outbox_events(stack.runtime.db)]
    assert subjects == ["orders.order.placed", "orders.order.confirmed"]
    read = await stack.stub.GetOrder(
        pb.GetOrderRequest(order_id=order.order_id, consistency_token=placed.consistency_token),
        metadata=ALICE,
    )
    assert read.order.version >= placed.order.version


@pytest.mark.parametrize(
    ("arrange", "token", "reason", "calls"),
    [
        (None, "tok_declined", order_pb2.REJECTION_REASON_PAYMENT_DECLINED, []),
        (None, "tok_timeout", order_pb2.REJECTION_REASON_PAYMENT_ERROR, []),
        ("no_stock", "tok_visa", order_pb2.REJECTION_REASON_OUT_OF_STOCK, ["VoidAuthorization"]),
        (
            "no_shipping",
            "tok_visa",
            order_pb2.REJECTION_REASON_DESTINATION_NOT_SERVED,
            ["ReleaseReservation", "VoidAuthorization"],
        ),
    ],
)
async def test_each_failure_is_rejected_with_nothing_left_open(
    stack: Stack, arrange: str | None, token: str, reason: int, calls: list[str]
) -> None:
    if arrange == "no_stock":
        stack.peers.inventory.stock["SKU-1"] = 1
    if arrange == "no_shipping":
        stack.peers.shipping.refuse_create = True
    placed = await stack.stub.PlaceOrder(request(token), metadata=ALICE)
    order = await stack.settled(placed.order.order_id)
    assert order.status == order_pb2.ORDER_STATUS_REJECTED
    assert order.rejection_reason == reason
    assert "Nothing was charged" in order.rejection_detail
    compensations = [
        c
        for c in stack.peers.payments.calls + stack.peers.inventory.calls
        if c in ("VoidAuthorization", "ReleaseReservation")
    ]
    assert sorted(compensations) == sorted(calls)
    assert stack.nothing_open()
    subjects = [e.subject for e in await outbox_events(stack.runtime.db)]
    assert subjects == ["orders.order.placed", "orders.order.rejected"]


async def test_a_timeout_is_retried_up_to_its_bound(stack: Stack) -> None:
    placed = await stack.stub.PlaceOrder(request("tok_timeout"), metadata=ALICE)
    order = await stack.settled(placed.order.order_id)
    assert stack.peers.payments.calls.count("AuthorizePayment") == 4
    assert order.saga_steps[0].attempts == 4
    assert order.saga_steps[0].last_error == "UNAVAILABLE: PROCESSOR_UNAVAILABLE"


async def test_place_order_twice_with_one_key_gives_one_order(stack: Stack) -> None:
    first_request = request()
    first = await stack.stub.PlaceOrder(first_request, metadata=ALICE)
    again = await stack.stub.PlaceOrder(first_request, metadata=ALICE)
    assert again.order.order_id == first.order.order_id
    await stack.settled(first.order.order_id)
    await project_outbox(stack.runtime)
    listed = await stack.stub.ListOrders(pb.ListOrdersRequest(), metadata=ALICE)
    assert len(listed.orders) == 1
    assert stack.peers.payments.calls.count("AuthorizePayment") == 1


async def test_place_order_refusals(stack: Stack) -> None:
    bad = request()
    bad.lines[0].sku = "SKU-NONE"
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await stack.stub.PlaceOrder(bad, metadata=ALICE)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as not_served:
        await stack.stub.PlaceOrder(request(country="AQ"), metadata=ALICE)
    assert not_served.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    shown = money_pb2.Money(currency_code="EUR", amount_minor=100)
    with pytest.raises(grpc.aio.AioRpcError) as changed:
        await stack.stub.PlaceOrder(request(expected_total=shown), metadata=ALICE)
    assert changed.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = status.detail(changed.value, error_details_pb2.ErrorInfo)
    assert info is not None
    assert info.reason == "PRICE_CHANGED"
    assert info.metadata["total"] == str(2 * 1250 + 500)
    with pytest.raises(grpc.aio.AioRpcError) as invalid:
        await stack.stub.PlaceOrder(request(token=""), metadata=ALICE)
    assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = status.detail(invalid.value, error_details_pb2.BadRequest)
    assert violations is not None
    assert [v.field for v in violations.field_violations] == ["payment_token"]


async def test_cancel_a_confirmed_order_publishes_order_cancelled_only(stack: Stack) -> None:
    placed = await stack.stub.PlaceOrder(request(), metadata=ALICE)
    order = await stack.settled(placed.order.order_id)
    bob = (("x-shop-subject", "bob"), ("x-shop-role", "customer"))
    cancel = pb.CancelOrderRequest(idempotency_key=str(uuid.uuid4()), order_id=order.order_id)
    with pytest.raises(grpc.aio.AioRpcError) as theirs:
        await stack.stub.CancelOrder(cancel, metadata=bob)
    assert theirs.value.code() == grpc.StatusCode.NOT_FOUND
    cancelled = await stack.stub.CancelOrder(cancel, metadata=ALICE)
    assert cancelled.order.status == order_pb2.ORDER_STATUS_CANCELLING
    again = await stack.stub.CancelOrder(
        pb.CancelOrderRequest(idempotency_key=str(uuid.uuid4()), order_id=order.order_id),
        metadata=ALICE,
    )
    assert again.order.version == cancelled.order.version  # unchanged: already cancelling
    events = await outbox_events(stack.runtime.db)
    assert [e.subject for e in events][-2:] == ["orders.order.confirmed", "orders.order.cancelled"]
    assert getattr(events[-1].data, "payment_id") == order.payment_id  # noqa: B009
    # orders itself calls no compensation: payments, inventory, shipping consume the event.
    compensations = {"VoidAuthorization", "RefundPayment"} & set(stack.peers.payments.calls)
    assert not compensations
    assert "CancelShipment" not in stack.peers.shipping.calls


async def test_a_runner_cancelled_mid_step_is_resumed_without_a_second_effect(
    db: Database, clean_database: str
) -> None:
    peers = PeerServers()
    gate = asyncio.Event()
    reserve = peers.inventory.ReserveStock

    async def slow_reserve(request: object, context: object) -> object:
        result = await reserve(request, context)  # type: ignore[arg-type]
        await gate.wait()  # the effect happened; the answer never reaches this runner
        return result

    peers.inventory.ReserveStock = slow_reserve  # type: ignore[method-assign,assignment]
    async with peer_server(peers) as address:
        settings = instance_settings("orders", clean_database, mesh_outbound=address)
        runtime = Runtime(settings, db)
        await _seed(runtime)
        uow = runtime.units_of_work(Repositories.on)
        order = await service.place_order(
            uow,
            idempotency_key=str(uuid.uuid4()),
            command=__import__("orders_fakes").command(),
            shipping=main.peers(runtime).shipping,
        )
        first = asyncio.create_task(SagaRunner(uow, main.peers(runtime), owner="orders-test").run())
        while not peers.inventory.status:
            await asyncio.sleep(0.01)
        first.cancel()  # the crash: mid-step, RESERVE_STOCK persisted as RUNNING
        with pytest.raises(asyncio.CancelledError):
            await first
        gate.set()
        fresh = SagaRunner(uow, main.peers(runtime), owner="orders-test")
        assert await fresh.resume() == 1
        await fresh.run_once()
        viewed = await service.get_order(uow, service.Caller("alice"), order.order_id)
    assert viewed.order.status.name == "CONFIRMED"
    assert len(peers.payments.by_key) == 1
    assert len(peers.inventory.by_key) == 1  # the second ReserveStock had no second effect
    assert peers.inventory.calls.count("ReserveStock") == 2
