"""A service process for the shutdown test: `python chassis_slow_service.py`, configured by
SHOP_* variables like any service. GetProduct logs when it starts, then takes a while."""

import asyncio
import logging

from chassis_support import Context, FakeCatalog, registration

from chassis.config import ServiceSettings
from chassis.server import serve
from shop.catalog.v1 import catalog_service_pb2 as catalog
from shop.catalog.v1 import product_pb2

STARTED = "GetProduct started"
TAKES_S = 0.5


async def slow_get_product(
    request: catalog.GetProductRequest, context: Context
) -> catalog.GetProductResponse:
    logging.getLogger("slow").info(STARTED)
    await asyncio.sleep(TAKES_S)
    return catalog.GetProductResponse(product=product_pb2.Product(sku=request.sku))


if __name__ == "__main__":
    asyncio.run(
        serve(
            ServiceSettings(),
            services=[registration(FakeCatalog(slow_get_product))],
            migrations=None,
        )
    )
