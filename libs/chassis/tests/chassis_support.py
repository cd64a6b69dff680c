"""What the chassis tests share: a fake catalog servicer standing in for a service, and a
real in-process chassis server around it."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import grpc.aio

from chassis.config import ServiceSettings
from chassis.errors import NO_ERRORS, ErrorMap
from chassis.server import Server
from shop.catalog.v1 import catalog_service_pb2 as catalog
from shop.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc
from shop.catalog.v1 import product_pb2

CATALOG = catalog.DESCRIPTOR.services_by_name["CatalogService"].full_name
GET_PRODUCT = f"/{CATALOG}/GetProduct"

Context = grpc.aio.ServicerContext[Any, Any]
GetProduct = Callable[[catalog.GetProductRequest, Context], Awaitable[catalog.GetProductResponse]]


async def found(request: catalog.GetProductRequest, context: Context) -> catalog.GetProductResponse:
    return catalog.GetProductResponse(product=product_pb2.Product(sku=request.sku))


class FakeCatalog(catalog_grpc.CatalogServiceServicer):
    """GetProduct does what the test says; UpsertProduct records what reached it."""

    def __init__(self, get_product: GetProduct = found) -> None:
        self.get_product = get_product
        self.upserts: list[catalog.UpsertProductRequest] = []

    async def GetProduct(
        self, request: catalog.GetProductRequest, context: Context
    ) -> catalog.GetProductResponse:
        return await self.get_product(request, context)

    async def ListProducts(
        self, request: catalog.ListProductsRequest, context: Context
    ) -> catalog.ListProductsResponse:
        return catalog.ListProductsResponse()

    async def SearchProducts(
        self, request: catalog.SearchProductsRequest, context: Context
    ) -> catalog.SearchProductsResponse:
        return catalog.SearchProductsResponse()

    async def UpsertProduct(
        self, request: catalog.UpsertProductRequest, context: Context
    ) -> catalog.UpsertProductResponse:
        self.upserts.append(request)
        return catalog.UpsertProductResponse(product=request.product, created=True)


def settings(**overrides: Any) -> ServiceSettings:
    values: dict[str, Any] = {
        "service": "catalog",
        "instance": "catalog-test",
        "database_url": "postgresql+psycopg://unused@/unused",
        "grpc_port": 0,
        "shutdown_grace_s": 1.0,
    }
    return ServiceSettings(**(values | overrides))


@asynccontextmanager
async def running(
    servicer: catalog_grpc.CatalogServiceServicer,
    service_settings: ServiceSettings | None = None,
    errors: ErrorMap = NO_ERRORS,
) -> AsyncIterator[tuple[Server, grpc.aio.Channel]]:
    """A started chassis server around `servicer`, and a plain channel to it."""
    server = Server(service_settings or settings(), servicers=[servicer], errors=errors)
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield server, channel
    finally:
        await server.stop()
