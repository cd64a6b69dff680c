"""Shipping's pacts as a consumer, shared by the test that checks shipping's own client
against them (contract/test_shipping_pact_catalog.py) and by shipping's provider
verification, where the catalog shipping calls is played from this very pact
(chassis.testing.pact.pact_peer): what catalog verifies is what shipping is tested on."""

from __future__ import annotations

import grpc

from chassis.testing import pact
from shipping.weights import PRODUCT_NOT_FOUND

CATALOG = pact.new_pact("shipping", "catalog")
GET_PRODUCT = "/shop.catalog.v1.CatalogService/GetProduct"
pact.call(
    CATALOG,
    "the weight of a product",
    GET_PRODUCT,
    {"sku": "KIT-KNIFE-1"},
    {"product": {"weightGrams": pact.match.int(240)}},
    given="product KIT-KNIFE-1 weighs 240 g",
)
pact.call(
    CATALOG,
    "the weight of a product the catalog does not have",
    GET_PRODUCT,
    {"sku": "NO-SUCH-SKU"},
    pact.failure(grpc.StatusCode.NOT_FOUND, PRODUCT_NOT_FOUND),
    given="there is no product NO-SUCH-SKU",
)
