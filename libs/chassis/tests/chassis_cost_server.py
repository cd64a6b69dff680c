"""A server process whose CPU time per call test_chassis_cost.py measures:

    python chassis_cost_server.py bare|chassis LOG_FILE

Both serve the same in-memory catalog servicer on a grpc.aio server. `bare` has nothing
else; `chassis` has the chassis interceptor chain (chassis.server.interceptors), with the
process configured as a service configures it (JSON log lines to LOG_FILE, the tracer
provider without an exporter), so every interceptor does its real work. It prints its
port on stderr, then serves until its standard input closes.
"""

import asyncio
import sys
from typing import Any

import grpc.aio

from chassis import context
from chassis.config import ServiceSettings
from chassis.logs import configure_logging
from chassis.server import interceptors
from chassis.telemetry import configure_tracing
from shop.catalog.v1 import catalog_service_pb2 as catalog
from shop.catalog.v1 import catalog_service_pb2_grpc as catalog_grpc
from shop.catalog.v1 import product_pb2
from shop.common.v1 import money_pb2

Context = grpc.aio.ServicerContext[Any, Any]
PRODUCT = product_pb2.Product(
    sku="SKU-1",
    name="Teapot",
    description="A teapot that pours without dripping.",
    price=money_pb2.Money(currency_code="EUR", amount_minor=1999),
    weight_grams=800,
    categories=["kitchen"],
    image_url="https://images.example.com/teapot.jpg",
    version=3,
)


class InMemoryCatalog(catalog_grpc.CatalogServiceServicer):
    """GetProduct only; the rest answer UNIMPLEMENTED as the generated servicer does."""

    async def GetProduct(
        self, request: catalog.GetProductRequest, context: Context
    ) -> catalog.GetProductResponse:
        return catalog.GetProductResponse(product=PRODUCT)


async def serve(kind: str) -> None:
    chain: list[grpc.aio.ServerInterceptor] = []
    if kind == "chassis":
        settings = ServiceSettings(
            service="catalog",
            instance="catalog-cost",
            database_url="postgresql+psycopg://unused@/unused",
        )
        configure_logging(settings)
        context.set_service(settings.service)
        configure_tracing(settings)
        chain = interceptors(settings)
    server = grpc.aio.server(interceptors=chain)
    catalog_grpc.add_CatalogServiceServicer_to_server(InMemoryCatalog(), server)  # type: ignore[abstract]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, file=sys.stderr, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until closed
    await server.stop(None)


if __name__ == "__main__":
    with open(sys.argv[2], "w") as log_file:
        sys.stdout = log_file  # where configure_logging's handler writes
        asyncio.run(serve(sys.argv[1]))
