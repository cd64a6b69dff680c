"""The policy loader: the real policy file loads, and mistakes are named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoptools.contracts.model import Access, load_contracts
from shoptools.mesh import jwt
from shoptools.mesh.policy import (
    GATEWAY,
    PolicyError,
    event_subjects,
    load_policy,
    parse_duration,
    parse_policy,
)

from .conftest import TEST_POLICY

REPO_POLICY = Path(__file__).resolve().parents[3] / "mesh" / "policy.yaml"


def test_the_repository_policy_loads() -> None:
    policy = load_policy(REPO_POLICY)

    search = policy.service("catalog").methods["SearchProducts"]
    assert policy.timeouts(search).timeout == 8.0
    assert policy.timeouts(policy.service("catalog").methods["GetProduct"]).timeout == 5.0
    assert policy.defaults.retries.attempts == 3
    assert (policy.gateway.jwt.issuer, policy.gateway.jwt.audience) == (jwt.ISSUER, jwt.AUDIENCE)


def test_callers_come_from_the_policy_and_the_gateway_from_the_contract() -> None:
    policy = load_policy(REPO_POLICY)
    inventory = policy.service("inventory").methods
    catalog = policy.service("catalog").methods

    assert policy.callers(inventory["ReserveStock"]) == ["orders"]  # internal: no gateway
    assert policy.callers(inventory["GetStock"]) == [GATEWAY, "orders"]  # anonymous
    assert policy.callers(catalog["GetProduct"]) == [GATEWAY, "orders", "shipping"]
    assert policy.callers(catalog["UpsertProduct"]) == [GATEWAY]  # admin


def test_every_internal_method_has_a_caller_in_the_repository_policy() -> None:
    policy = load_policy(REPO_POLICY)
    internal = [
        m
        for service in load_contracts().values()
        for m in service.methods.values()
        if m.access is Access.INTERNAL
    ]
    assert internal
    assert [m.path for m in internal if not policy.callers(m)] == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("  catalog:\n", "  catalogue:\n"), "services.catalogue: unknown service 'catalogue'"),
        (
            ("orders: [GetProduct, ListProducts]", "orders: [GetProduct, DeleteProduct]"),
            "services.catalog.callers.orders: unknown method 'DeleteProduct' of "
            "shop.catalog.v1.CatalogService",
        ),
        (("      orders:", "      warehouse:"), "unknown caller 'warehouse'"),
        (("      orders:", "      gateway:"), "the gateway's access is derived from the contracts"),
        (("timeout: 1s", "timeout: 1 second"), "defaults.timeout: '1 second' is not a duration"),
        (("attempts: 3", "attempts: 0"), "defaults.retries.attempts: 0 is out of range"),
        (("[unavailable, reset", "[unavailable, internal"), "unknown condition 'internal'"),
        (("per_try_timeout: 400ms", "per_try_timeout: 2s"), "per_try_timeout exceeds timeout"),
        (("  circuit_breaker:", "  circuit_braker:"), "defaults: unknown key 'circuit_braker'"),
        (("version: 1", "version: 2"), "version: only version 1 is supported"),
    ],
)
def test_mistakes_are_reported_with_where_they_are(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in TEST_POLICY
    with pytest.raises(PolicyError) as error:
        parse_policy(TEST_POLICY.replace(old, new, 1), source="policy.yaml")
    assert message in str(error.value)
    assert str(error.value).startswith("policy.yaml: ")


def test_method_timeouts_override_the_defaults() -> None:
    policy = parse_policy(
        TEST_POLICY.replace(
            "  catalog:\n", "  catalog:\n    methods:\n      SearchProducts: {timeout: 3s}\n"
        )
    )
    methods = policy.service("catalog").methods

    search = policy.timeouts(methods["SearchProducts"])
    assert (search.timeout, search.per_try_timeout) == (3.0, 0.4)
    assert policy.timeouts(methods["GetProduct"]).timeout == 1.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("5s", 5.0), ("1.5s", 1.5), ("2m", 120.0), ("1h", 3600.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_the_events_section_says_who_consumes_what() -> None:
    policy = load_policy(REPO_POLICY)

    [cancelled] = policy.subscriptions("payments")
    assert (cancelled.name, cancelled.context) == ("payments-order-cancelled", "orders")
    assert cancelled.subjects == ("orders.order.cancelled",)
    assert {s.context for s in policy.subscriptions("audit")} == set(event_subjects())
    assert policy.subscriptions("catalog") == ()  # consumes nothing
    assert policy.publishes_events("catalog")  # its contract declares events
    assert not policy.publishes_events("audit")


def test_every_event_subject_is_its_contexts() -> None:
    subjects = event_subjects()

    assert "orders.order.cancelled" in subjects["orders"]
    assert all(s.startswith(f"{context}.") for context, found in subjects.items() for s in found)
    assert set(subjects) == {s.name for s in load_contracts().values() if s.publishes_events}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("  payments:\n    payments-", "  billing:\n    payments-"), "unknown service 'billing'"),
        (
            ("[orders.order.cancelled]  # voids", "[orders.order.shipped]  # voids"),
            "events.payments.payments-order-cancelled: unknown event subject "
            "'orders.order.shipped'",
        ),
        (
            ("[orders.order.cancelled]  # voids", "[orders.order.cancelled, catalog.>]  # voids"),
            "events of one context per consumer",
        ),
        (("audit-catalog: [catalog.>]", "audit-catalog: [audit.>]"), "'audit' publishes no"),
        (("    payments-order-cancelled:", "    order-cancelled:"), "'payments-<what it does>'"),
        (("audit-catalog: [catalog.>]", "audit-catalog: []"), "name the events it consumes"),
    ],
)
def test_event_mistakes_are_reported_with_where_they_are(
    change: tuple[str, str], message: str
) -> None:
    text = REPO_POLICY.read_text()
    old, new = change
    assert old in text
    with pytest.raises(PolicyError) as error:
        parse_policy(text.replace(old, new, 1), source="policy.yaml")
    assert message in str(error.value)
    assert str(error.value).startswith("policy.yaml: events.")
