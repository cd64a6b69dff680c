"""A stand-in catalog for integration tests: a real gRPC server in the test process that
implements CatalogService.GetProduct as the test says (a product, NOT_FOUND with the
catalog's ErrorInfo, or UNAVAILABLE), and records what reached it. Shipping reaches it
through chassis.clients with SHOP_MESH_OUTBOUND pointing at it, as it would its sidecar."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

import grpc
import grpc.aio
from google.rpc import error_details_pb2

from chassis import status
from shop.catalog.v1 import catalog_service_pb2 as pb
from shop.catalog.v1 import product_pb2
from shop.catalog.v1.catalog_service_pb2_grpc import (
    CatalogServiceServicer,
    add_CatalogServiceServicer_to_server,
)

CATALOG_DOMAIN = "catalog.shop.local"
Context = grpc.aio.ServicerContext[Any, Any]


@dataclass(frozen=True)
class Received:
    sku: str
    metadata: dict[str, str]


@dataclass
class FakeCatalog(CatalogServiceServicer):
    weights: dict[str, int] = field(default_factory=dict)
    """Products it has, by SKU: their weight in grams. Others are NOT_FOUND."""
    failure: grpc.StatusCode | None = None
    """Answer every call with this code and no details (UNAVAILABLE: as a catalog whose
    database is down does)."""
    received: list[Received] = field(default_factory=list)

    async def GetProduct(
        self, request: pb.GetProductRequest, context: Context
    ) -> pb.GetProductResponse:
        metadata = {key: str(value) for key, value in context.invocation_metadata() or ()}
        self.received.append(Received(request.sku, metadata))
        if self.failure is not None:
            await status.abort(context, self.failure, "failing as the test says", [])
        weight = self.weights.get(request.sku)
        if weight is None:
            info = error_details_pb2.ErrorInfo(
                reason="PRODUCT_NOT_FOUND", domain=CATALOG_DOMAIN, metadata={"sku": request.sku}
            )
            await status.abort(
                context, grpc.StatusCode.NOT_FOUND, f"no product with SKU {request.sku}", [info]
            )
        product = product_pb2.Product(sku=request.sku, name=request.sku, weight_grams=weight)
        return pb.GetProductResponse(product=product)

    # Shipping may call only GetProduct (mesh/policy.yaml); the rest answer as a catalog
    # behind a sidecar that refuses them would.
    async def ListProducts(
        self, request: pb.ListProductsRequest, context: Context
    ) -> pb.ListProductsResponse:
        await _refuse(context)

    async def SearchProducts(
        self, request: pb.SearchProductsRequest, context: Context
    ) -> pb.SearchProductsResponse:
        await _refuse(context)

    async def UpsertProduct(
        self, request: pb.UpsertProductRequest, context: Context
    ) -> pb.UpsertProductResponse:
        await _refuse(context)


async def _refuse(context: Context) -> NoReturn:
    await status.abort(context, grpc.StatusCode.PERMISSION_DENIED, "not for shipping", [])


@asynccontextmanager
async def catalog_server(catalog: FakeCatalog) -> AsyncIterator[str]:
    """Serves `catalog` on a free loopback port; its address ("127.0.0.1:<port>")."""
    server = grpc.aio.server()
    add_CatalogServiceServicer_to_server(catalog, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(grace=None)
