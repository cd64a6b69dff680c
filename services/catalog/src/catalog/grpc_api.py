"""The gRPC servicer: request messages to use-case calls, results back to messages; and the
catalog's outcomes as the contract names them (ERRORS)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from grpc import aio

from catalog import service
from catalog.domain import InvalidProduct, ProductNotFound
from catalog.messages import content_from_proto, product_to_proto
from catalog.repository import Repositories
from chassis.errors import ErrorMap, Reason
from chassis.uow import UnitOfWork
from shop.catalog.v1 import catalog_service_pb2 as pb
from shop.catalog.v1.catalog_service_pb2_grpc import CatalogServiceServicer
from shop.catalog.v1.errors_pb2 import ErrorReason

Context = aio.ServicerContext[Any, Any]

ERRORS = ErrorMap(
    {
        ProductNotFound: (
            grpc.StatusCode.NOT_FOUND,
            Reason.of(ErrorReason, ErrorReason.ERROR_REASON_PRODUCT_NOT_FOUND),
        ),
        InvalidProduct: (
            grpc.StatusCode.INVALID_ARGUMENT,
            Reason.of(ErrorReason, ErrorReason.ERROR_REASON_INVALID_PRODUCT),
        ),
    }
)


class CatalogApi(CatalogServiceServicer):
    def __init__(self, unit_of_work: Callable[[], UnitOfWork[Repositories]]) -> None:
        self._uow = unit_of_work

    async def GetProduct(
        self, request: pb.GetProductRequest, context: Context
    ) -> pb.GetProductResponse:
        product = await service.get_product(self._uow(), request.sku)
        return pb.GetProductResponse(product=product_to_proto(product))

    async def ListProducts(
        self, request: pb.ListProductsRequest, context: Context
    ) -> pb.ListProductsResponse:
        page = await service.list_products(
            self._uow(),
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
            self._uow(),
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
        except InvalidProduct as error:  # the domain names fields of the product message
            raise InvalidProduct(f"product.{error.field}", error.problem) from error
        result = await service.upsert_product(
            self._uow(), idempotency_key=request.idempotency_key, content=content
        )
        return pb.UpsertProductResponse(
            product=product_to_proto(result.product), created=result.created
        )
