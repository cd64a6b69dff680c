"""The web process in the stack: served through the gateway without a token, the real
development sign-in in a browser, and the API behind it as strict as before."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page

from shoptools.stack import runfile

from .browser import TOKEN_COOKIE, CheckAccessibility, Screenshot, SignIn
from .harness import Stack


@pytest.fixture
def client(web_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=web_url, timeout=30) as opened:
        yield opened


def test_the_stack_runs_the_web_process(full_stack: Stack) -> None:
    state = runfile.load(full_stack.topology.run_file)
    assert state is not None
    [web] = [c for c in state.components if c.name == "web"]
    assert web.state == runfile.HEALTHY
    assert web.address == f"http://127.0.0.1:{full_stack.topology.web_port}"
    status = full_stack.shop("status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    by_name = {c["name"]: c for c in json.loads(status.stdout)["components"]}
    assert by_name["web"]["healthy"] is True
    assert f"{full_stack.gateway}/shop/" in full_stack.output.split()
    assert f"{full_stack.gateway}/console/" in full_stack.output.split()


def test_the_gateway_serves_the_pages_without_a_token(client: httpx.Client) -> None:
    storefront = client.get("/shop/")
    home = client.get("/")
    stylesheet = client.get("/web-static/site.css")
    sign_in_page = client.get("/signin")

    assert storefront.status_code == 200
    assert storefront.headers["content-type"].startswith("text/html")
    assert home.is_redirect
    assert home.headers["location"].endswith("/shop/")
    assert stylesheet.status_code == 200
    assert stylesheet.headers["content-type"].startswith("text/css")
    assert sign_in_page.status_code == 200
    assert '<form method="post" action="/signin"' in sign_in_page.text


def test_the_api_still_requires_a_token(client: httpx.Client) -> None:
    orders = client.get("/v1/orders")
    admin = client.post("/admin/v1/products", json={})
    anonymous_read = client.get("/v1/products", params={"page_size": 1})

    assert orders.status_code == 401
    assert orders.json()["code"] == 16  # UNAUTHENTICATED
    assert admin.status_code == 401
    assert anonymous_read.status_code == 200


def test_signing_in_sets_a_token_the_api_accepts(
    page: Page, sign_in: SignIn, client: httpx.Client
) -> None:
    sign_in(page, "alice", "customer")

    [cookie] = [c for c in page.context.cookies() if c.get("name") == TOKEN_COOKIE]
    assert cookie.get("httpOnly") is True
    assert cookie.get("sameSite") == "Lax"
    orders = client.get("/v1/orders", headers={"authorization": f"Bearer {cookie.get('value')}"})
    assert orders.status_code == 200, orders.text


def test_signing_in_returns_to_the_page_asked_for(page: Page, sign_in: SignIn) -> None:
    sign_in(page, "ada", "admin", next_path="/shop/?from=signin")

    assert page.url.endswith("/shop/?from=signin")


def test_signing_out_removes_the_token(page: Page, sign_in: SignIn) -> None:
    sign_in(page, "alice", "customer")

    response = page.request.post("/signout", max_redirects=0)

    assert response.status == 303
    assert TOKEN_COOKIE not in {c.get("name") for c in page.context.cookies()}


def test_a_name_the_sign_in_refuses_is_explained(page: Page) -> None:
    page.goto("/signin")
    page.get_by_label("Name", exact=True).fill("not a name!")
    page.locator("form[action='/signin']").get_by_role("button").click()

    name = page.get_by_label("Name", exact=True)
    assert name.get_attribute("aria-invalid") == "true"
    assert TOKEN_COOKIE not in {c.get("name") for c in page.context.cookies()}


@pytest.mark.parametrize("size", ["page", "phone_page"])
def test_the_sign_in_page_is_accessible(
    size: str,
    request: pytest.FixtureRequest,
    check_accessibility: CheckAccessibility,
    screenshot: Screenshot,
) -> None:
    page: Page = request.getfixturevalue(size)
    page.goto("/signin")

    check_accessibility(page)
    screenshot(page, "signin" if size == "page" else "signin-phone")
