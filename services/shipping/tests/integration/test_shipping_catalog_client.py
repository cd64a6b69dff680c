"""Parcel weights from a real gRPC catalog, reached the way shipping reaches its sidecar
(chassis.clients with SHOP_MESH_OUTBOUND pointing at the stand-in catalog): what each of
the catalog's answers becomes for shipping's use cases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from shipping_catalog import FakeCatalog, catalog_server

from chassis import clients, context
from chassis.config import ServiceSettings
from chassis.errors import PeerError
from chassis.testing.plugin import instance_settings
from shipping.domain import UnknownSku
from shipping.weights import CatalogWeights

pytestmark = pytest.mark.anyio


@pytest.fixture
def catalog() -> FakeCatalog:
    return FakeCatalog(weights={"KIT-KNIFE-1": 240, "TEA-SENCHA": 100})


@pytest.fixture
async def settings(catalog: FakeCatalog) -> AsyncIterator[ServiceSettings]:
    async with catalog_server(catalog) as address:
        yield instance_settings("shipping", "postgresql+psycopg://unused/x", mesh_outbound=address)


@pytest.fixture
async def weights(settings: ServiceSettings) -> AsyncIterator[CatalogWeights]:
    channels: list[grpc.aio.Channel] = []

    def open_channel() -> grpc.aio.Channel:
        channels.append(clients.channel(settings, "catalog"))
        return channels[-1]

    yield CatalogWeights(open_channel)
    for channel in channels:
        await channel.close()


async def test_known_skus_weigh_what_the_catalog_says(
    weights: CatalogWeights, catalog: FakeCatalog
) -> None:
    found = await weights.weights_grams(["KIT-KNIFE-1", "TEA-SENCHA"])

    assert found == {"KIT-KNIFE-1": 240, "TEA-SENCHA": 100}
    assert sorted(r.sku for r in catalog.received) == ["KIT-KNIFE-1", "TEA-SENCHA"]


async def test_calls_to_the_catalog_carry_the_current_request_id(
    weights: CatalogWeights, catalog: FakeCatalog
) -> None:
    token = context.correlation_id.set("quote-123")
    try:
        await weights.weights_grams(["KIT-KNIFE-1"])
    finally:
        context.correlation_id.reset(token)

    [received] = catalog.received
    assert received.metadata["x-request-id"] == "quote-123"


async def test_a_sku_the_catalog_does_not_have_is_an_unknown_sku(
    weights: CatalogWeights,
) -> None:
    with pytest.raises(UnknownSku) as raised:
        await weights.weights_grams(["KIT-KNIFE-1", "NO-SUCH-SKU"])

    assert raised.value.metadata == {"sku": "NO-SUCH-SKU"}


async def test_an_unavailable_catalog_is_a_transient_peer_error(
    weights: CatalogWeights, catalog: FakeCatalog
) -> None:
    catalog.failure = grpc.StatusCode.UNAVAILABLE

    with pytest.raises(PeerError) as raised:
        await weights.weights_grams(["KIT-KNIFE-1"])

    assert raised.value.code == grpc.StatusCode.UNAVAILABLE
    assert raised.value.transient


async def test_a_catalog_nobody_listens_for_is_a_transient_peer_error() -> None:
    async with catalog_server(FakeCatalog()) as address:
        pass  # the port is free again: connections are refused
    settings = instance_settings("shipping", "postgresql+psycopg://unused/x", mesh_outbound=address)
    channel = clients.channel(settings, "catalog")
    try:
        with pytest.raises(PeerError) as raised:
            await CatalogWeights(lambda: channel).weights_grams(["KIT-KNIFE-1"])
    finally:
        await channel.close()

    assert raised.value.transient


async def test_a_not_found_without_the_catalogs_reason_is_not_taken_for_an_unknown_sku(
    weights: CatalogWeights, catalog: FakeCatalog
) -> None:
    # A NOT_FOUND from something else on the path (a route the mesh does not know) is not
    # the catalog saying the product does not exist: that is what the reason is for.
    catalog.failure = grpc.StatusCode.NOT_FOUND

    with pytest.raises(PeerError) as raised:
        await weights.weights_grams(["KIT-KNIFE-1"])

    assert raised.value.code == grpc.StatusCode.NOT_FOUND
    assert raised.value.reason is None
