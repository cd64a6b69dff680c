"""The development sign-in and who the pages think is signed in."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import jwt
import pytest
from starlette.testclient import TestClient

from shoptools.mesh.jwt import AUDIENCE, ISSUER, jwks, mint_token
from shopweb.app import create_app
from shopweb.session import COOKIE
from shopweb.settings import WebSettings

GATEWAY = "http://127.0.0.1:9"  # never called by these pages


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    """The local token issuer's directory, as the stack makes it (key and JWKS)."""
    jwks(tmp_path / "pki")
    return tmp_path / "pki"


@pytest.fixture
def client(pki: Path) -> TestClient:
    return TestClient(create_app(WebSettings(GATEWAY, dev_identity_pki_dir=pki)))


def test_the_sign_in_page_says_it_is_for_development_only(client: TestClient) -> None:
    page = client.get("/signin")
    assert page.status_code == 200
    assert "Development only" in page.text


def test_signing_in_sets_a_token_the_gateway_would_accept(client: TestClient, pki: Path) -> None:
    answer = client.post(
        "/signin",
        data={"name": "Alice", "role": "admin", "next": "/console/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/"
    cookie = answer.headers["set-cookie"]
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    token = answer.cookies[COOKIE]
    key = jwt.PyJWK(json.loads(jwks(pki))["keys"][0])
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER)
    assert (claims["sub"], claims["role"]) == ("alice", "admin")


def test_a_bad_name_or_role_is_refused_on_its_field(client: TestClient) -> None:
    answer = client.post("/signin", data={"name": "../x", "role": "root"})
    assert answer.status_code == 400
    assert 'aria-invalid="true"' in answer.text
    assert "starting with a letter or digit" in answer.text
    assert COOKIE not in answer.cookies


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "javascript:x"])
def test_sign_in_never_redirects_off_the_site(client: TestClient, target: str) -> None:
    answer = client.post(
        "/signin", data={"name": "bob", "role": "customer", "next": target}, follow_redirects=False
    )
    assert answer.headers["location"] == "/shop/"


def test_without_a_local_token_issuer_there_is_no_sign_in_page() -> None:
    client = TestClient(create_app(WebSettings(GATEWAY)))
    assert client.get("/signin").status_code == 404


def test_signing_out_forgets_the_token(client: TestClient) -> None:
    client.post("/signin", data={"name": "carol", "role": "customer"}, follow_redirects=False)
    assert client.cookies.get(COOKIE)
    answer = client.post("/signout", follow_redirects=False)
    assert answer.status_code == 303
    assert "max-age=0" in answer.headers["set-cookie"].lower()


def test_an_expired_token_reads_as_signed_out(client: TestClient, pki: Path) -> None:
    expired = mint_token(pki, "dave", "customer", datetime.timedelta(seconds=-60))
    client.cookies.set(COOKIE, expired)
    assert "Signed in as" not in client.get("/signin").text
    client.cookies.set(COOKIE, mint_token(pki, "dave", "customer"))
    assert "Signed in as" in client.get("/signin").text


def test_every_page_forbids_other_sites_scripts_and_framing(client: TestClient) -> None:
    for path in ("/signin", "/web-static/site.css", "/no-such-page"):
        headers = client.get(path).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"
