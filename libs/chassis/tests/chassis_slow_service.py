"""A service process for the shutdown test: `python chassis_slow_service.py`, configured by
SHOP_* variables like any service. GetProduct logs when it starts, then takes a while."""

import asyncio
import logging
from pathlib import Path

from chassis_support import Context, FakeCatalog

from chassis.app import ServiceApp, Wiring
from chassis.config import ServiceSettings
from shop.catalog.v1 import catalog_service_pb2 as catalog
from shop.catalog.v1 import product_pb2

STARTED = "GetProduct started"
TAKES_S = 0.5
MIGRATIONS = Path(__file__).with_name("example_migrations")


async def slow_get_product(
    request: catalog.GetProductRequest, context: Context
) -> catalog.GetProductResponse:
    logging.getLogger("slow").info(STARTED)
    await asyncio.sleep(TAKES_S)
    return catalog.GetProductResponse(product=product_pb2.Product(sku=request.sku))


app = ServiceApp(
    "catalog",
    wire=lambda runtime: Wiring(servicers=[FakeCatalog(slow_get_product)]),
    migrations=MIGRATIONS,
)

if __name__ == "__main__":
    asyncio.run(app.serve(ServiceSettings()))
