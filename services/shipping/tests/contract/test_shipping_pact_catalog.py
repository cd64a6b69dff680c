"""What shipping needs of the catalog (its pact pacts/shipping-catalog.json, written in
shipping_pacts.py): a product's unit weight, and a refusal it can tell apart for a SKU the
catalog does not have, through shipping's real catalog client (shipping.weights) pointed at
a server playing the pact."""

from __future__ import annotations

import pytest
from shipping_pacts import CATALOG

from chassis.testing import pact
from shipping.domain import UnknownSku
from shipping.weights import CatalogWeights

pytestmark = pytest.mark.anyio


async def test_shipping_reads_a_products_weight() -> None:
    async with pact.pact_peer(CATALOG) as channel:
        weights = await CatalogWeights(lambda: channel).weights_grams(["KIT-KNIFE-1"])

    assert weights == {"KIT-KNIFE-1": 240}


async def test_shipping_tells_an_unknown_sku_from_a_failure() -> None:
    async with pact.pact_peer(CATALOG) as channel:
        with pytest.raises(UnknownSku):
            await CatalogWeights(lambda: channel).weights_grams(["NO-SUCH-SKU"])


async def test_the_pact_in_the_repository_is_current() -> None:
    pact.assert_committed(CATALOG)
