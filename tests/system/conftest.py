"""The stacks the system tests run against, started with the real `shop up`.

`stack`: the repository's mesh policy, two catalog instances, one of every other service
but orders, and a client sidecar that calls the mesh as orders.
`chaos_stack`: a policy made to fail fast (a tiny gateway rate limit, a short
SearchProducts timeout, a small circuit breaker) and injected faults: catalog-2 answers
every call UNAVAILABLE, catalog-1 holds each SearchProducts far beyond its timeout.
`full_stack`: every service once, orders included, for the order tests (test_orders_*),
with the gateway's rate limits lifted: they poll orders through it.

The browser fixtures (browser.py: `web_url`, `browser`, `page`, `phone_page`, `sign_in`,
`check_accessibility`, `screenshot`) drive the web pages of `full_stack`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .browser import (
    browser,
    check_accessibility,
    page,
    phone_page,
    pytest_runtest_makereport,
    screenshot,
    sign_in,
    web_url,
)
from .harness import ROOT, Stack, running_stack

# browser.py's fixtures and hook: pytest registers what a conftest module holds.
__all__ = [
    "browser",
    "check_accessibility",
    "page",
    "phone_page",
    "pytest_runtest_makereport",
    "screenshot",
    "sign_in",
    "web_url",
]

SEARCH_TIMEOUT_S = 2.0
SEARCH_DELAY_S = 10 * SEARCH_TIMEOUT_S
RATE_LIMIT_BURST = 3  # tokens in the gateway's bucket, never refilled during the tests
MAX_REQUESTS = 3  # concurrent calls from one caller to the catalog


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Schemathesis last: it writes random data through every admin operation (products
    of any name and currency, stock adjustments), and the other tests of the shared
    stacks expect the seed catalog as it was."""
    items.sort(key=lambda item: item.path.name == "test_schemathesis.py")


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with running_stack(services={"catalog": 2, "orders": 0}, clients=("orders",)) as started:
        yield started


def chaos_policy(path: Path) -> Path:
    """mesh/policy.yaml with small limits, written to `path`."""
    policy = yaml.safe_load((ROOT / "mesh" / "policy.yaml").read_text())
    policy["gateway"]["rate_limit"]["per_address"] = {
        "max_tokens": RATE_LIMIT_BURST,
        "tokens_per_fill": 1,
        "fill_interval": "1h",
    }
    policy["defaults"]["circuit_breaker"] = {
        "max_connections": 16,
        "max_pending_requests": MAX_REQUESTS,
        "max_requests": MAX_REQUESTS,
        "max_retries": 16,  # so retries never run out before the requests do
    }
    # An ejected instance stays out for the rest of the module.
    policy["defaults"]["outlier_detection"]["base_ejection_time"] = "10m"
    catalog = policy["services"]["catalog"]
    catalog["methods"]["SearchProducts"] = {
        "timeout": f"{SEARCH_TIMEOUT_S}s",
        "per_try_timeout": f"{SEARCH_TIMEOUT_S}s",
    }
    catalog["callers"]["orders"].append("SearchProducts")
    path.write_text(yaml.safe_dump(policy))
    return path


@pytest.fixture(scope="module")
def chaos_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    policy = chaos_policy(tmp_path_factory.mktemp("chaos") / "policy.yaml")
    faults = ("catalog-2:abort=14", f"catalog-1:SearchProducts:delay={SEARCH_DELAY_S:g}s")
    with running_stack(
        services={"catalog": 2, "orders": 0}, clients=("orders",), faults=faults, policy=policy
    ) as started:
        yield started


@pytest.fixture(scope="session")
def full_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    policy = yaml.safe_load((ROOT / "mesh" / "policy.yaml").read_text())
    unlimited = {"max_tokens": 1_000_000, "tokens_per_fill": 1_000_000, "fill_interval": "1s"}
    for bucket in ("per_customer", "per_address", "overall"):
        policy["gateway"]["rate_limit"][bucket] = unlimited
    path = tmp_path_factory.mktemp("orders") / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    with running_stack(services={}, policy=path) as started:
        yield started
