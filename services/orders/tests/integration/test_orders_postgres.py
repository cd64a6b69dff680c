"""The use cases and the saga runner on Postgres (the peers are in-memory fakes here),
and the gRPC API in-process: customer isolation, validation."""

from __future__ import annotations

import uuid

import grpc
import grpc.aio
import pytest
from orders_fakes import Crash, FakePeers, command
from orders_projection import project_outbox

from chassis.app import Runtime, ServiceApp
from chassis.testing import outbox_events, serving
from orders import main, service
from orders.admission import Admission
from orders.domain import CatalogPrice, Money, OrderStatus
from orders.grpc_api import ERRORS
from orders.repository import Repositories
from orders.runner import SagaRunner
from orders.saga import StepKind, StepState
from shop.orders.v1 import order_pb2
from shop.orders.v1 import orders_service_pb2 as pb
from shop.orders.v1.orders_service_pb2_grpc import OrdersServiceStub

pytestmark = pytest.mark.anyio
KEY = "6b0d1c9e-7f3a-4d2b-8e5c-1a2b3c4d5e6f"


async def _seed(runtime: Runtime) -> None:
    uow = runtime.units_of_work(Repositories.on)
    await service.project_product(
        uow, event_key=str(uuid.uuid4()), price=CatalogPrice("SKU-1", "Mug", Money("EUR", 1250), 1)
    )


async def test_an_order_is_placed_once_and_confirmed(runtime: Runtime) -> None:
    await _seed(runtime)
    uow = runtime.units_of_work(Repositories.on)
    peers = FakePeers()
    first = await service.place_order(uow, idempotency_key=KEY, command=command(), shipping=peers)
    again = await service.place_order(uow, idempotency_key=KEY, command=command(), shipping=peers)
    assert again.order_id == first.order_id
    assert first.total == Money("EUR", 2 * 1250 + 500)
    admitting = Admission(uow, limit=1)
    await admitting.refresh()
    assert admitting.unfinished == 1  # its saga, counted on the runnable index
    runner = SagaRunner(uow, peers.peers(), owner="orders-test")
    await runner.run_once()
    await admitting.refresh()
    assert admitting.unfinished == 0
    viewed = await service.get_order(uow, service.Caller("alice"), first.order_id)
    assert viewed.order.status is OrderStatus.CONFIRMED
    assert viewed.saga is not None
    assert len(viewed.saga.steps) == 5
    subjects = [e.subject for e in await outbox_events(runtime.db)]
    assert subjects == ["orders.order.placed", "orders.order.confirmed"]


async def test_a_crash_between_steps_is_resumed_without_a_second_reservation(
    runtime: Runtime,
) -> None:
    await _seed(runtime)
    uow = runtime.units_of_work(Repositories.on)
    peers = FakePeers()
    order = await service.place_order(uow, idempotency_key=KEY, command=command(), shipping=peers)
    peers.fail["create_shipment"] = [Crash()]
    with pytest.raises(Crash):
        await SagaRunner(uow, peers.peers(), owner="orders-test").run_once()
    async with uow().read() as reading:
        saga = await reading.repos.sagas.get(order.order_id)
    assert saga is not None
    record = saga.record(StepKind.CREATE_SHIPMENT)
    assert record is not None
    assert record.state is StepState.RUNNING
    fresh = SagaRunner(uow, peers.peers(), owner="orders-test")
    assert await fresh.resume() == 1
    await fresh.run_once()
    viewed = await service.get_order(uow, service.Caller("alice"), order.order_id)
    assert viewed.order.status is OrderStatus.CONFIRMED
    assert len(peers.calls("authorize")) == 1
    assert len(peers.calls("reserve")) == 1


async def test_the_api_shows_a_customer_only_their_own_orders(runtime: Runtime) -> None:
    await _seed(runtime)
    wire = lambda r: main.wire(r, backfill=False)  # noqa: E731
    app = ServiceApp("orders", wire=wire, errors=ERRORS, migrations=main.MIGRATIONS_DIR)
    async with serving(app, runtime) as channel:
        stub = OrdersServiceStub(channel)
        alice = (("x-shop-subject", "alice"), ("x-shop-role", "customer"))
        bob = (("x-shop-subject", "bob"), ("x-shop-role", "customer"))
        # No peers are reachable here: place the order directly, read it through the API.
        uow = runtime.units_of_work(Repositories.on)
        order = await service.place_order(
            uow, idempotency_key=KEY, command=command(), shipping=FakePeers()
        )
        mine = await stub.GetOrder(pb.GetOrderRequest(order_id=order.order_id), metadata=alice)
        assert mine.order.customer_id == "alice"
        with pytest.raises(grpc.aio.AioRpcError) as theirs:
            await stub.GetOrder(pb.GetOrderRequest(order_id=order.order_id), metadata=bob)
        assert theirs.value.code() == grpc.StatusCode.NOT_FOUND
        await project_outbox(runtime)  # the order history, as its subscription would
        assert (await stub.ListOrders(pb.ListOrdersRequest(), metadata=bob)).orders == []
        listed = await stub.ListOrders(pb.ListOrdersRequest(), metadata=alice)
        assert [o.order_id for o in listed.orders] == [order.order_id]
        admin = (("x-shop-subject", "ops"), ("x-shop-role", "admin"))
        everyone = await stub.ListOrders(pb.ListOrdersRequest(), metadata=admin)
        assert [o.order_id for o in everyone.orders] == [order.order_id]
        cancel = pb.CancelOrderRequest(idempotency_key=str(uuid.uuid4()), order_id=order.order_id)
        with pytest.raises(grpc.aio.AioRpcError) as theirs_to_cancel:
            await stub.CancelOrder(cancel, metadata=bob)
        assert theirs_to_cancel.value.code() == grpc.StatusCode.NOT_FOUND
        queued = await stub.CancelOrder(cancel, metadata=alice)  # PENDING: queued, not refused
        assert queued.order.status == order_pb2.ORDER_STATUS_PENDING
        assert queued.order.cancel_requested
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await stub.GetOrder(pb.GetOrderRequest(order_id="not-a-uuid"), metadata=alice)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
