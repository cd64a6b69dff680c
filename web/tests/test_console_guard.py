"""Every console page is for administrators: anonymous visitors are sent to sign in
(back to the page they wanted), customers get a 403 page, and a token the gateway
refuses sends the admin to sign in again."""

from __future__ import annotations

import pytest
from test_console_fakes import FakeGateway, console

PAGES = [
    "/console/",
    "/console/orders",
    "/console/orders/6eb490b2-af5d-5ef6-a897-689d9f292d1c",
    "/console/dead-letters",
    "/console/dead-letters/3",
    "/console/dead-letters/redrive?subscription=audit-orders",
    "/console/audit",
    "/console/audit/verify",
    "/console/stock",
    "/console/products",
]


@pytest.mark.parametrize("path", PAGES)
def test_an_anonymous_visitor_is_asked_to_sign_in_and_comes_back(path: str) -> None:
    with console(role=None) as client:
        reply = client.get(path)
    assert reply.status_code == 303
    assert reply.headers["location"].startswith("/signin?next=%2Fconsole%2F")


def test_the_sign_in_returns_to_the_page_with_its_query() -> None:
    with console(role=None) as client:
        reply = client.get("/console/orders?order_id=abc")
    assert reply.headers["location"] == "/signin?next=%2Fconsole%2Forders%3Forder_id%3Dabc"


@pytest.mark.parametrize("path", PAGES)
def test_a_customer_is_refused_with_a_page_that_says_why(path: str) -> None:
    with console(role="customer") as client:
        reply = client.get(path)
    assert reply.status_code == 403
    assert "The console is for administrators" in reply.text
    assert "ada" in reply.text


@pytest.mark.parametrize("path", ["/console/stock", "/console/products"])
def test_a_customer_cannot_post_the_admin_forms(path: str) -> None:
    fake = FakeGateway()
    with console(fake, role="customer") as client:
        reply = client.post(path, data={"sku": "ABC-1", "delta": "1", "reason": "x"})
    assert reply.status_code == 403
    assert fake.requests == []  # never reached the API


def test_a_token_the_gateway_refuses_sends_the_admin_to_sign_in_again() -> None:
    fake = FakeGateway({("GET", "/admin/v1/audit/events"): (401, {"code": 16, "message": "jwt"})})
    with console(fake) as client:
        reply = client.get("/console/audit")
    assert reply.status_code == 303
    assert reply.headers["location"] == "/signin?next=%2Fconsole%2Faudit"


def test_an_admin_gets_the_page() -> None:
    with console() as client:
        reply = client.get("/console/orders")
    assert reply.status_code == 200
    assert '<label for="order_id">Order id</label>' in reply.text
