"""The contract workflow around the pacts in pacts/: every pact has a consumer test that
writes it and a provider test that verifies it; a pact the consumer's tests no longer write
is caught as stale; and `shop can-i-deploy` answers no, naming the consumer and the field,
when a consumer asks for something its provider does not give (yet)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import grpc
import grpc.aio
import pytest

from chassis.testing import pact
from shop.catalog.v1.catalog_service_pb2 import GetProductRequest
from shop.catalog.v1.catalog_service_pb2_grpc import CatalogServiceStub
from shop.orders.v1.events_pb2 import OrderCancelled
from shoptools import pact as pacts_tool
from shoptools.services import checkout_root

pytestmark = pytest.mark.anyio

ROOT = checkout_root()
COMMITTED = sorted((ROOT / "pacts").glob("*.json"))


TOOLS = {"shop-cli", "shop-bench"}  # consumers that are not services: the REST clients


def consumer_tests(consumer: str) -> Path:
    if consumer in TOOLS:
        return ROOT / "tools" / "tests"
    return ROOT / "services" / consumer / "tests"


@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.stem)
def test_a_committed_pact_has_a_consumer_test_and_a_provider_verification(path: Path) -> None:
    """A service's pact is verified in its contract tests; an HTTP pact (a REST client's)
    through the gateway of a stack, in tests/system."""
    document = json.loads(path.read_text())
    consumer, provider = document["consumer"]["name"], document["provider"]["name"]
    assert path.name == f"{consumer}-{provider}.json"
    written_by = [
        test
        for test in consumer_tests(consumer).rglob("*.py")
        if f'new_pact("{consumer}", "{provider}")' in test.read_text()
    ]
    assert written_by, f"no contract test of {consumer} writes {path.name}: delete it"
    if pacts_tool.is_http(path):
        verification = pacts_tool.rest_verification(ROOT)
        verified_by = f"def test_{provider}_{pacts_tool.REST_VERIFICATION}"
    else:
        verification = pacts_tool.provider_verification(ROOT, provider)
        verified_by = f"def test_{provider}_{pacts_tool.VERIFICATION}"
    assert verified_by in verification.read_text(), f"{verification} verifies no {path.name}"


def test_every_consumed_pact_is_checked_for_a_service_to_be_deployed() -> None:
    planned = {check.what for check in pacts_tool.checks(ROOT, "orders")}

    assert planned >= {
        "orders gives audit, inventory, notifications, payments, shipping what they need",
        "orders's code matches the pacts it committed",
        "catalog as it is now gives orders what it asks",
        "payments as it is now gives orders what it asks",
        "inventory as it is now gives orders what it asks",
        "shipping as it is now gives orders what it asks",
        "orders gives shop-bench, shop-cli what they need over HTTP (on a stack)",
    }


def test_a_pact_the_consumer_tests_no_longer_write_is_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(pact.PACTS_ENV, str(tmp_path))
    monkeypatch.setenv(pact.UPDATE_ENV, "1")
    before = pact.new_pact("payments", "orders")
    pact.event(before, "an order was cancelled", OrderCancelled, {"reason": "x"}, given="g")
    pact.assert_committed(before)
    monkeypatch.delenv(pact.UPDATE_ENV)
    pact.assert_committed(before)  # unchanged: current

    now = pact.new_pact("payments", "orders")
    pact.event(now, "an order was cancelled", OrderCancelled, {"reason": "y"}, given="g")
    with pytest.raises(AssertionError, match=r"payments-orders\.json is stale"):
        pact.assert_committed(now)


def test_can_i_deploy_says_no_while_a_provider_lacks_what_a_consumer_asks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """orders asks catalog for a product's colour, which catalog does not publish: until
    catalog does, neither may be deployed with that pact."""
    pacts = tmp_path / "pacts"
    shutil.copytree(ROOT / "pacts", pacts)
    for rest in filter(pacts_tool.is_http, pacts.glob("*.json")):
        rest.unlink()  # their check starts a whole stack (tests/system/test_pact_rest.py)
    asking = pacts / "orders-catalog.json"
    document = json.loads(asking.read_text())
    for interaction in document["interactions"]:
        data = interaction["contents"]["content"]["data"]
        if "product" in data:
            data["product"]["colour"] = "red"
    asking.write_text(json.dumps(document))
    monkeypatch.setenv(pact.PACTS_ENV, str(pacts))
    out = io.StringIO()

    answer = pacts_tool.can_i_deploy("catalog", out)

    report = out.getvalue()
    assert answer == 1, report
    assert " NO  catalog gives audit, orders, shipping what they need" in report
    assert "Verifying a pact between orders and catalog" in report
    assert "$.data.product -> Actual map is missing the following keys: colour" in report


async def test_a_consumer_sending_what_its_pact_does_not_name_is_refused() -> None:
    """The server playing a provider answers only the requests the pact names, exactly: a
    consumer whose client changed what it sends fails its own contract test."""
    peer = pact.new_pact("orders", "catalog")
    pact.call(
        peer,
        "a product",
        "/shop.catalog.v1.CatalogService/GetProduct",
        {"sku": "KIT-KNIFE-1"},
        {"product": {"sku": "KIT-KNIFE-1"}},
        given="product KIT-KNIFE-1 exists",
    )
    async with pact.pact_peer(peer) as channel:
        catalog = CatalogServiceStub(channel)
        named = await catalog.GetProduct(GetProductRequest(sku="KIT-KNIFE-1"))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await catalog.GetProduct(GetProductRequest(sku="TEA-SENCHA"))

    assert named.product.sku == "KIT-KNIFE-1"
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert '"sku": "TEA-SENCHA"' in (refused.value.details() or "")
