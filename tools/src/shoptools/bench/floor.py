"""The floor: `python -m shoptools.bench.floor PORT PRODUCTS_FILE`.

A bare grpc.aio CatalogService answering GetProduct and ListProducts from memory with the
very products the real catalog holds (PRODUCTS_FILE is a serialized ListProductsResponse
of all of them), and no chassis: no interceptors, no logging, no metrics, no tracing, no
database. It is what a call costs when only gRPC itself runs, so the benchmark can state
every figure as a multiple of it. gRPC health is served (SERVING), as the mesh's health
checks need it. Plain asyncio, on purpose: the floor must not move when the services'
event loop changes.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from shop.catalog.v1 import catalog_service_pb2 as pb
from shop.catalog.v1 import catalog_service_pb2_grpc as pb_grpc

Context = grpc.aio.ServicerContext[Any, Any]
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["CatalogService"].full_name


class BareCatalog(pb_grpc.CatalogServiceServicer):
    """The two reads the benchmark makes; the rest answer UNIMPLEMENTED, as generated."""

    def __init__(self, products: pb.ListProductsResponse) -> None:
        self._by_sku = {p.sku: p for p in products.products}
        self._in_order = sorted(products.products, key=lambda p: p.sku)

    async def GetProduct(self, request: pb.GetProductRequest, context: Context) -> Any:
        product = self._by_sku.get(request.sku)
        if product is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no product with SKU {request.sku}")
        return pb.GetProductResponse(product=product)

    async def ListProducts(self, request: pb.ListProductsRequest, context: Context) -> Any:
        # The first page only (what the benchmark asks for); the token is an opaque stand-in
        # of the catalog's token size, so the response has the same shape.
        size = request.page_size or 20
        page = self._in_order[:size]
        more = len(self._in_order) > size
        return pb.ListProductsResponse(
            products=page, next_page_token=f"floor-after-{page[-1].sku}" if more else ""
        )


async def serve(port: int, products: pb.ListProductsResponse) -> None:
    server = grpc.aio.server()
    pb_grpc.add_CatalogServiceServicer_to_server(BareCatalog(products), server)  # type: ignore[abstract]
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await server.stop(None)


def main() -> None:
    port, products_file = int(sys.argv[1]), Path(sys.argv[2])
    asyncio.run(serve(port, pb.ListProductsResponse.FromString(products_file.read_bytes())))


if __name__ == "__main__":
    main()
