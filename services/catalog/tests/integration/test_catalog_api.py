"""The catalog over gRPC, end to end in-process: the chassis server with its interceptors,
the migration gate and the seed on start, called through a real grpc.aio channel."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import TYPE_CHECKING

import grpc
import pytest
from catalog_examples import product
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from catalog import seed
from catalog.domain import InvalidProduct, Money, ProductContent
from catalog.grpc_api import CatalogApi
from catalog.messages import content_to_proto
from catalog.repository import Repositories
from chassis import status
from chassis.app import Runtime, ServiceApp
from chassis.db import Database
from chassis.migrations import upgrade_to_head
from chassis.testing import outbox_events, serving
from chassis.testing.plugin import PostgresServer, instance_settings
from chassis.uow import SqlUnitOfWork
from shop.catalog.v1 import catalog_service_pb2 as pb
from shop.catalog.v1.catalog_service_pb2_grpc import CatalogServiceStub

if TYPE_CHECKING:  # the async stub type exists only in the type stubs
    from shop.catalog.v1.catalog_service_pb2_grpc import CatalogServiceAsyncStub

pytestmark = pytest.mark.anyio

SEED = seed.load()
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["CatalogService"].full_name


@pytest.fixture(scope="module")
def catalog(channel: grpc.aio.Channel) -> CatalogServiceAsyncStub:
    return CatalogServiceStub(channel)


def upsert_request(content: ProductContent, key: str = "") -> pb.UpsertProductRequest:
    return pb.UpsertProductRequest(
        idempotency_key=key or str(uuid.uuid4()), product=content_to_proto(content)
    )


async def test_get_product_returns_a_seeded_product(catalog: CatalogServiceAsyncStub) -> None:
    expected = SEED.products[0]

    response = await catalog.GetProduct(pb.GetProductRequest(sku=expected.sku))

    assert response.product.name == expected.name
    assert response.product.price.currency_code == "EUR"
    assert response.product.price.amount_minor == expected.price.amount_minor
    assert list(response.product.categories) == list(expected.categories)
    assert response.product.version == 1
    assert response.product.update_time.seconds > 0


async def test_list_products_pages_through_a_category(catalog: CatalogServiceAsyncStub) -> None:
    skus: list[str] = []
    token = ""
    while True:
        response = await catalog.ListProducts(
            pb.ListProductsRequest(category="outdoor", page_size=3, page_token=token)
        )
        skus += [p.sku for p in response.products]
        token = response.next_page_token
        if not token:
            break

    assert skus == sorted(c.sku for c in SEED.products if "outdoor" in c.categories)


async def test_search_products_finds_name_matches_first(catalog: CatalogServiceAsyncStub) -> None:
    response = await catalog.SearchProducts(pb.SearchProductsRequest(query="coffee"))

    assert response.products
    assert "Coffee" in response.products[0].name


async def test_upsert_product_creates_and_a_retry_returns_the_same_outcome(
    catalog: CatalogServiceAsyncStub, module_db: Database
) -> None:
    request = upsert_request(product("NEW-KNIFE-1"))

    first = await catalog.UpsertProduct(request)
    retry = await catalog.UpsertProduct(request, metadata=(("x-request-id", "retry-1"),))
    stored = await catalog.GetProduct(pb.GetProductRequest(sku="NEW-KNIFE-1"))

    assert first.created
    assert first.product.version == 1
    assert retry == first
    assert stored.product == first.product
    assert len(await outbox_events(module_db, aggregate="products/NEW-KNIFE-1")) == 1


async def test_events_carry_the_callers_request_id(
    catalog: CatalogServiceAsyncStub, module_db: Database
) -> None:
    await catalog.UpsertProduct(
        upsert_request(product("NEW-KNIFE-2")), metadata=(("x-request-id", "req-42"),)
    )

    [event] = await outbox_events(module_db, aggregate="products/NEW-KNIFE-2")
    assert event.envelope.correlation_id == "req-42"
    assert event.envelope.source == "//catalog.shop.local"


async def test_a_bad_request_is_invalid_argument_naming_the_fields(
    catalog: CatalogServiceAsyncStub,
) -> None:
    request = upsert_request(product())
    request.product.sku = "bad sku"
    request.product.weight_grams = 0

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await catalog.UpsertProduct(request)

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_request = status.detail(raised.value, error_details_pb2.BadRequest)
    assert bad_request is not None
    fields = {v.field for v in bad_request.field_violations}
    assert fields == {"product.sku", "product.weight_grams"}


async def test_an_unknown_sku_is_not_found_with_its_reason(
    catalog: CatalogServiceAsyncStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await catalog.GetProduct(pb.GetProductRequest(sku="NO-SUCH-SKU"))

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    info = status.error_info(raised.value)
    assert info is not None
    assert (info.reason, info.domain) == ("PRODUCT_NOT_FOUND", "catalog.shop.local")
    assert info.metadata["sku"] == "NO-SUCH-SKU"


async def test_a_page_token_from_another_query_is_refused(
    catalog: CatalogServiceAsyncStub,
) -> None:
    first = await catalog.SearchProducts(pb.SearchProductsRequest(query="steel", page_size=1))

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await catalog.SearchProducts(
            pb.SearchProductsRequest(query="coffee", page_token=first.next_page_token)
        )

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    info = status.error_info(raised.value)
    assert info is not None
    assert (info.reason, info.domain) == ("INVALID_PAGE_TOKEN", "shop.local")


async def test_reusing_an_idempotency_key_for_another_request_is_already_exists(
    catalog: CatalogServiceAsyncStub,
) -> None:
    key = str(uuid.uuid4())
    await catalog.UpsertProduct(upsert_request(product("NEW-KNIFE-3"), key))

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await catalog.UpsertProduct(
            upsert_request(product("NEW-KNIFE-3", price=Money("EUR", 1)), key)
        )

    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    info = status.error_info(raised.value)
    assert info is not None
    assert info.reason == "IDEMPOTENCY_KEY_REUSED"


async def test_the_servicer_maps_a_domain_invariant_to_a_field_error(module_db: Database) -> None:
    # The contract rejects this first over the wire; called directly, the domain still does.
    request = upsert_request(product())
    request.product.categories.append("kitchen")  # duplicate category

    api = CatalogApi(lambda: SqlUnitOfWork(module_db, Repositories.on))
    with pytest.raises(InvalidProduct) as raised:
        await api.UpsertProduct(request, None)  # type: ignore[arg-type]

    assert raised.value.field == "product.categories"


async def test_the_service_seeds_and_serves_only_once_its_schema_is_migrated(
    service_app: ServiceApp, postgres_server: PostgresServer
) -> None:
    url = postgres_server.create_database("catalog_gate_test")  # not migrated yet
    db = Database(url)
    runtime = Runtime(instance_settings("catalog", url), db)
    try:
        async with contextlib.AsyncExitStack() as stack:
            started = asyncio.create_task(stack.enter_async_context(serving(service_app, runtime)))
            await asyncio.sleep(0.3)
            assert not started.done(), "served before its schema was migrated"

            await asyncio.to_thread(upgrade_to_head, url, service_app.migrations)
            async with asyncio.timeout(60):
                channel = await started

            health = health_pb2_grpc.HealthStub(channel)
            reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            listed = await CatalogServiceStub(channel).ListProducts(
                pb.ListProductsRequest(page_size=100)
            )
            assert len(listed.products) == len(SEED.products)
    finally:
        await db.dispose()
        postgres_server.drop_database("catalog_gate_test")
