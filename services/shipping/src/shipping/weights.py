"""Parcel weights: what a product weighs, asked of the catalog (its GetProduct, through the
instance's sidecar; mesh/policy.yaml lets shipping call it).

Use cases see the `ProductWeights` port; tests pass a fake. Shipping never imports the
catalog's code, only its generated contract.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Protocol

import grpc.aio

from chassis.errors import Reason, peer_error
from shipping.domain import UnknownSku
from shop.catalog.v1 import catalog_service_pb2
from shop.catalog.v1.catalog_service_pb2_grpc import CatalogServiceStub
from shop.catalog.v1.errors_pb2 import ErrorReason as CatalogReason

if TYPE_CHECKING:  # the async stub type exists only in the type stubs
    from shop.catalog.v1.catalog_service_pb2_grpc import CatalogServiceAsyncStub

PRODUCT_NOT_FOUND = Reason.of(CatalogReason, CatalogReason.ERROR_REASON_PRODUCT_NOT_FOUND)


class ProductWeights(Protocol):
    async def weights_grams(self, skus: Collection[str]) -> dict[str, int]:
        """Each SKU's unit weight. Raises UnknownSku for a SKU the catalog does not have,
        and chassis.errors.PeerError when the catalog cannot answer."""
        ...


class CatalogWeights:
    """ProductWeights from the catalog over gRPC, one GetProduct per SKU, concurrently.

    A NOT_FOUND with the catalog's PRODUCT_NOT_FOUND reason is UnknownSku; every other
    failure stays a PeerError: a transient one (catalog down, its circuit open) answers
    UNAVAILABLE through the chassis's fault taxonomy, anything else is a bug (INTERNAL)."""

    def __init__(self, open_channel: Callable[[], grpc.aio.Channel]) -> None:
        # The channel is opened on first use, inside the event loop that serves calls.
        self._open_channel = open_channel
        self._stub: CatalogServiceAsyncStub | None = None

    async def weights_grams(self, skus: Collection[str]) -> dict[str, int]:
        found = await asyncio.gather(*(self._weight_grams(sku) for sku in skus))
        return dict(zip(skus, found, strict=True))

    async def _weight_grams(self, sku: str) -> int:
        if self._stub is None:
            self._stub = CatalogServiceStub(self._open_channel())
        try:
            reply = await self._stub.GetProduct(catalog_service_pb2.GetProductRequest(sku=sku))
        except grpc.aio.AioRpcError as error:
            failure = peer_error(error)
            if failure.reason == PRODUCT_NOT_FOUND:
                raise UnknownSku(sku) from failure
            raise failure from error
        return reply.product.weight_grams
