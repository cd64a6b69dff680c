"""Shipping over gRPC, end to end in-process: the chassis server with its interceptors, the
migration gate and the dispatch timer, called through a real grpc.aio channel; the catalog
is a stand-in gRPC server the instance reaches through chassis.clients (its
SHOP_MESH_OUTBOUND points there). The instance runs on a clock the tests move."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from typing import TYPE_CHECKING

import grpc
import pytest
from google.rpc import error_details_pb2
from shipping_catalog import FakeCatalog, catalog_server
from shipping_examples import Clock

from chassis import status
from chassis.app import Runtime, ServiceApp
from chassis.db import Database
from chassis.testing import outbox_events, serving
from chassis.testing.plugin import instance_settings
from shipping import rates
from shipping.main import wire
from shipping.settings import ShippingSettings
from shop.common.v1 import address_pb2
from shop.shipping.v1 import events_pb2, shipment_pb2
from shop.shipping.v1 import shipping_service_pb2 as pb
from shop.shipping.v1.shipping_service_pb2_grpc import ShippingServiceStub

if TYPE_CHECKING:  # the async stub type exists only in the type stubs
    from shop.shipping.v1.shipping_service_pb2_grpc import ShippingServiceAsyncStub

pytestmark = pytest.mark.anyio

DOMAIN = "shipping.shop.local"
DISPATCH_DELAY_S = 600.0
WEIGHTS = {"KIT-KNIFE-1": 240, "TEA-SENCHA": 100, "TENT-2P": 2600}


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def catalog() -> FakeCatalog:
    return FakeCatalog(weights=dict(WEIGHTS))


@pytest.fixture(autouse=True)
def healthy_catalog(catalog: FakeCatalog) -> None:
    catalog.failure = None


@pytest.fixture(scope="module")
async def module_db(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
async def channel(
    service_app: ServiceApp,
    module_db: Database,
    database_url: str,
    clock: Clock,
    catalog: FakeCatalog,
) -> AsyncIterator[grpc.aio.Channel]:
    """The started shipping instance (its dispatch timer looking often) and a channel."""
    settings = ShippingSettings(dispatch_delay_s=DISPATCH_DELAY_S, dispatch_interval_s=0.02)
    app = dataclasses.replace(
        service_app, wire=functools.partial(wire, settings=settings, clock=clock)
    )
    async with catalog_server(catalog) as catalog_address:
        instance = instance_settings("shipping", database_url, mesh_outbound=catalog_address)
        async with serving(app, Runtime(instance, module_db)) as channel:
            yield channel


@pytest.fixture(scope="module")
def shipping(channel: grpc.aio.Channel) -> ShippingServiceAsyncStub:
    return ShippingServiceStub(channel)


def destination(country_code: str = "DE") -> address_pb2.Address:
    return address_pb2.Address(
        recipient="Erika Mustermann",
        lines=["Heidestraße 17"],
        locality="Köln",
        postal_code="51147",
        country_code=country_code,
    )


def quote_request(
    *skus: str, country_code: str = "DE", currency: str = "EUR"
) -> pb.QuoteShippingRequest:
    return pb.QuoteShippingRequest(
        destination=destination(country_code),
        lines=[pb.QuoteLine(sku=sku, quantity=2) for sku in skus or ("KIT-KNIFE-1",)],
        currency_code=currency,
    )


def create_request(
    order_id: str = "",
    *,
    key: str = "",
    country_code: str = "DE",
    level: shipment_pb2.ServiceLevel.ValueType = shipment_pb2.SERVICE_LEVEL_STANDARD,
) -> pb.CreateShipmentRequest:
    return pb.CreateShipmentRequest(
        idempotency_key=key or str(uuid.uuid4()),
        order_id=order_id or str(uuid.uuid4()),
        customer_id="customer-7",
        address=destination(country_code),
        lines=[shipment_pb2.ShipmentLine(sku="KIT-KNIFE-1", quantity=1)],
        service_level=level,
    )


def cancel_request(shipment_id: str, key: str = "", reason: str = "") -> pb.CancelShipmentRequest:
    return pb.CancelShipmentRequest(
        idempotency_key=key or str(uuid.uuid4()), shipment_id=shipment_id, reason=reason
    )


async def refused(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    return raised.value


def reason(error: grpc.aio.AioRpcError) -> tuple[grpc.StatusCode, str, str]:
    info = status.error_info(error)
    assert info is not None, error
    return error.code(), info.reason, info.domain


def violated_fields(error: grpc.aio.AioRpcError) -> set[str]:
    bad_request = status.detail(error, error_details_pb2.BadRequest)
    assert bad_request is not None, error
    return {v.field for v in bad_request.field_violations}


# --- QuoteShipping --------------------------------------------------------------------------
async def test_a_quote_prices_the_catalogs_weights_from_the_rate_table(
    shipping: ShippingServiceAsyncStub, catalog: FakeCatalog
) -> None:
    response = await shipping.QuoteShipping(
        quote_request("KIT-KNIFE-1", "TENT-2P"), metadata=(("x-request-id", "quote-42"),)
    )

    weight = 2 * WEIGHTS["KIT-KNIFE-1"] + 2 * WEIGHTS["TENT-2P"]
    expected = rates.load().quote("DE", weight, "EUR")
    assert [
        (o.service_level, o.price.amount_minor, o.min_days, o.max_days) for o in response.options
    ] == [
        (
            shipment_pb2.ServiceLevel.Value(f"SERVICE_LEVEL_{e.service_level.value}"),
            e.price.amount_minor,
            e.min_days,
            e.max_days,
        )
        for e in expected
    ]
    assert [o.service_level for o in response.options] == [
        shipment_pb2.SERVICE_LEVEL_STANDARD,
        shipment_pb2.SERVICE_LEVEL_EXPRESS,
    ]
    assert {o.price.currency_code for o in response.options} == {"EUR"}
    asked = {r.sku: r.metadata.get("x-request-id") for r in catalog.received}
    assert asked | {"KIT-KNIFE-1": "quote-42", "TENT-2P": "quote-42"} == asked  # same operation


async def test_a_quote_for_a_sku_the_catalog_does_not_have_is_unknown_sku(
    shipping: ShippingServiceAsyncStub,
) -> None:
    error = await refused(shipping.QuoteShipping(quote_request("KIT-KNIFE-1", "NO-SUCH-SKU")))

    assert reason(error) == (grpc.StatusCode.NOT_FOUND, "UNKNOWN_SKU", DOMAIN)
    info = status.error_info(error)
    assert info is not None
    assert info.metadata["sku"] == "NO-SUCH-SKU"


async def test_a_quote_while_the_catalog_is_unavailable_is_unavailable(
    shipping: ShippingServiceAsyncStub, catalog: FakeCatalog
) -> None:
    catalog.failure = grpc.StatusCode.UNAVAILABLE

    error = await refused(shipping.QuoteShipping(quote_request()))

    assert error.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_quote_to_a_destination_nobody_serves_is_refused(
    shipping: ShippingServiceAsyncStub,
) -> None:
    error = await refused(shipping.QuoteShipping(quote_request(country_code="BR")))

    assert reason(error) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "DESTINATION_NOT_SERVED",
        DOMAIN,
    )


async def test_a_malformed_quote_is_invalid_argument_naming_the_fields(
    shipping: ShippingServiceAsyncStub,
) -> None:
    request = quote_request("KIT-KNIFE-1", "KIT-KNIFE-1", currency="XXX")
    request.destination.country_code = "Germany"

    error = await refused(shipping.QuoteShipping(request))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == {"lines", "currency_code", "destination.country_code"}


# --- CreateShipment -------------------------------------------------------------------------
async def test_create_shipment_replays_the_first_response_and_refuses_a_reused_key(
    shipping: ShippingServiceAsyncStub, module_db: Database
) -> None:
    request = create_request()

    first = await shipping.CreateShipment(request)
    replay = await shipping.CreateShipment(request)
    other = create_request(request.order_id, key=request.idempotency_key, country_code="FR")
    reuse = await refused(shipping.CreateShipment(other))

    assert first.shipment.status == shipment_pb2.SHIPMENT_STATUS_PENDING
    assert first.shipment.version == 1
    assert (first.shipment.carrier, first.shipment.tracking_number) == ("", "")  # until dispatch
    assert replay == first
    assert reason(reuse) == (grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED", "shop.local")
    shipment_id = first.shipment.shipment_id
    [event] = await outbox_events(module_db, aggregate=f"shipments/{shipment_id}")
    assert event.envelope.type == "shop.shipping.v1.ShipmentCreated"
    assert event.envelope.source == "//shipping.shop.local"


async def test_a_second_shipment_for_an_order_is_already_exists_naming_the_first(
    shipping: ShippingServiceAsyncStub,
) -> None:
    first = await shipping.CreateShipment(create_request())

    error = await refused(shipping.CreateShipment(create_request(first.shipment.order_id)))

    assert reason(error) == (grpc.StatusCode.ALREADY_EXISTS, "SHIPMENT_ALREADY_EXISTS", DOMAIN)
    info = status.error_info(error)
    assert info is not None
    assert info.metadata["shipment_id"] == first.shipment.shipment_id


async def test_a_service_level_that_does_not_reach_the_address_is_refused(
    shipping: ShippingServiceAsyncStub,
) -> None:
    request = create_request(country_code="AU", level=shipment_pb2.SERVICE_LEVEL_EXPRESS)

    error = await refused(shipping.CreateShipment(request))

    assert reason(error) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "DESTINATION_NOT_SERVED",
        DOMAIN,
    )


async def test_a_malformed_create_is_invalid_argument_naming_the_fields(
    shipping: ShippingServiceAsyncStub,
) -> None:
    request = create_request(level=shipment_pb2.SERVICE_LEVEL_UNSPECIFIED)
    request.order_id = "order-1"
    request.lines[0].quantity = 0

    error = await refused(shipping.CreateShipment(request))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(error) == {"order_id", "service_level", "lines[0].quantity"}


# --- CancelShipment, GetShipment, the dispatch timer ----------------------------------------
async def test_cancel_shipment_replays_the_first_response_and_refuses_a_reused_key(
    shipping: ShippingServiceAsyncStub,
) -> None:
    created = await shipping.CreateShipment(create_request())
    request = cancel_request(created.shipment.shipment_id, reason="payment declined")

    first = await shipping.CancelShipment(request)
    replay = await shipping.CancelShipment(request)
    other = cancel_request(created.shipment.shipment_id, request.idempotency_key, "other")
    reuse = await refused(shipping.CancelShipment(other))
    stored = await shipping.GetShipment(
        pb.GetShipmentRequest(shipment_id=created.shipment.shipment_id)
    )

    assert first.shipment.status == shipment_pb2.SHIPMENT_STATUS_CANCELLED
    assert first.shipment.version == 2
    assert replay == first
    assert reason(reuse) == (grpc.StatusCode.ALREADY_EXISTS, "IDEMPOTENCY_KEY_REUSED", "shop.local")
    assert stored.shipment == first.shipment


async def test_the_dispatch_timer_dispatches_and_a_dispatched_shipment_cannot_be_cancelled(
    shipping: ShippingServiceAsyncStub, clock: Clock, module_db: Database
) -> None:
    created = (await shipping.CreateShipment(create_request())).shipment
    get = pb.GetShipmentRequest(shipment_id=created.shipment_id)

    clock.advance(timedelta(seconds=DISPATCH_DELAY_S))
    async with asyncio.timeout(30):
        while (shipment := (await shipping.GetShipment(get)).shipment).status == (
            shipment_pb2.SHIPMENT_STATUS_PENDING
        ):
            await asyncio.sleep(0.02)
    error = await refused(shipping.CancelShipment(cancel_request(created.shipment_id)))

    assert shipment.status == shipment_pb2.SHIPMENT_STATUS_DISPATCHED
    assert shipment.carrier == "DHL"
    assert shipment.tracking_number.startswith("DHL")
    assert shipment.version == 2
    assert reason(error) == (grpc.StatusCode.FAILED_PRECONDITION, "ALREADY_DISPATCHED", DOMAIN)
    events = await outbox_events(module_db, aggregate=f"shipments/{created.shipment_id}")
    dispatched = events[-1].data
    assert isinstance(dispatched, events_pb2.ShipmentDispatched)
    assert dispatched.tracking_number == shipment.tracking_number


async def test_an_unknown_shipment_is_not_found(shipping: ShippingServiceAsyncStub) -> None:
    missing = str(uuid.uuid4())

    get = await refused(shipping.GetShipment(pb.GetShipmentRequest(shipment_id=missing)))
    cancel = await refused(shipping.CancelShipment(cancel_request(missing)))

    for error in (get, cancel):
        assert reason(error) == (grpc.StatusCode.NOT_FOUND, "SHIPMENT_NOT_FOUND", DOMAIN)
