"""The gRPC servicer: request messages to use-case calls, results back to messages."""

from __future__ import annotations

from typing import Any

from grpc import aio

from catalog import service
from catalog.domain import InvalidProduct
from catalog.messages import content_from_proto, product_to_proto
from chassis.db import Database
from chassis.errors import InvalidArgument
from shop.catalog.v1 import catalog_service_pb2 as pb
from shop.catalog.v1.catalog_service_pb2_grpc import CatalogServiceServicer

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["CatalogService"].full_name

Context = aio.ServicerContext[Any, Any]


class CatalogApi(CatalogServiceServicer):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def GetProduct(
        self, request: pb.GetProductRequest, context: Context
    ) -> pb.GetProductResponse:
        product = await service.get_product(self._db, request.sku)
        return pb.GetProductResponse(product=product_to_proto(product))

    async def ListProducts(
        self, request: pb.ListProductsRequest, context: Context
    ) -> pb.ListProductsResponse:
        page = await service.list_products(
            self._db,
            category=request.category,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListProductsResponse(
            products=[product_to_proto(p) for p in page.products],
            next_page_token=page.next_page_token,
        )

    async def SearchProducts(
        self, request: pb.SearchProductsRequest, context: Context
    ) -> pb.SearchProductsResponse:
        page = await service.search_products(
            self._db,
            query=request.query,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.SearchProductsResponse(
            products=[product_to_proto(p) for p in page.products],
            next_page_token=page.next_page_token,
        )

    async def UpsertProduct(
        self, request: pb.UpsertProductRequest, context: Context
    ) -> pb.UpsertProductResponse:
        try:
            content = content_from_proto(request.product)
        except InvalidProduct as error:
            raise InvalidArgument(
                f"invalid request: product.{error}",
                reason="INVALID_PRODUCT",
                field=f"product.{error.field}",
            ) from error
        result = await service.upsert_product(
            self._db, idempotency_key=request.idempotency_key, content=content
        )
        return pb.UpsertProductResponse(
            product=product_to_proto(result.product), created=result.created
        )
