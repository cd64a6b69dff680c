"""Signing in through an OpenID Connect provider: the code flow with PKCE against a fake
provider (discovery and token endpoints answered in process)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from starlette.testclient import TestClient

from shopweb.app import create_app
from shopweb.oidc import PENDING_COOKIE
from shopweb.session import COOKIE
from shopweb.settings import OidcConfig, WebSettings

ISSUER = "https://id.example.test/realms/shop"
CLIENT = OidcConfig(ISSUER, "shopweb", "s3cret")
ACCESS_TOKEN = "header.claims.signature"  # the gateway verifies it; the pages only keep it


class FakeProvider:
    def __init__(self) -> None:
        self.exchanged: list[dict[str, list[str]]] = []
        self.challenge = ""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/protocol/openid-connect/auth",
                    "token_endpoint": f"{ISSUER}/protocol/openid-connect/token",
                },
            )
        if request.url.path.endswith("/token"):
            form = parse_qs(request.content.decode())
            self.exchanged.append(form)
            verifier = form["code_verifier"][0].encode()
            proven = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if form["code"] != ["the-code"] or proven.decode() != self.challenge:
                return httpx.Response(400, json={"error": "invalid_grant"})
            return httpx.Response(
                200, json={"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 300}
            )
        return httpx.Response(404)


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def client(provider: FakeProvider) -> TestClient:
    settings = WebSettings("http://gateway.test", oidc=CLIENT)
    return TestClient(create_app(settings, httpx.MockTransport(provider)))


def started(client: TestClient, provider: FakeProvider, next_path: str) -> dict[str, str]:
    """GET /signin: the redirect to the provider's authorization endpoint, its query."""
    answer = client.get(f"/signin?next={next_path}", follow_redirects=False)
    assert answer.status_code == 303
    target = urlsplit(answer.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}".startswith(ISSUER)
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    provider.challenge = query["code_challenge"]
    return query


def test_signing_in_sends_the_visitor_to_the_provider_and_keeps_its_token(
    client: TestClient, provider: FakeProvider
) -> None:
    with client:
        asked = started(client, provider, "/shop/checkout")
        assert asked["response_type"] == "code"
        assert asked["client_id"] == "shopweb"
        assert asked["code_challenge_method"] == "S256"
        assert asked["redirect_uri"] == "http://testserver/signin/callback"
        back = client.get(
            "/signin/callback",
            params={"code": "the-code", "state": asked["state"]},
            follow_redirects=False,
        )
    assert back.status_code == 303
    assert back.headers["location"] == "/shop/checkout"
    assert back.cookies[COOKIE] == ACCESS_TOKEN
    (exchange,) = provider.exchanged
    assert exchange["client_secret"] == ["s3cret"]
    assert exchange["redirect_uri"] == ["http://testserver/signin/callback"]


def test_a_callback_with_another_state_is_refused(
    client: TestClient, provider: FakeProvider
) -> None:
    with client:
        started(client, provider, "/shop/")
        forged = client.get("/signin/callback", params={"code": "the-code", "state": "not-ours"})
    assert forged.status_code == 400
    assert COOKIE not in forged.cookies
    assert provider.exchanged == []


def test_a_callback_that_was_never_started_is_refused(
    client: TestClient, provider: FakeProvider
) -> None:
    with client:
        client.cookies.delete(PENDING_COOKIE)
        answer = client.get("/signin/callback", params={"code": "the-code", "state": "x"})
    assert answer.status_code == 400
    assert provider.exchanged == []


def test_a_code_the_provider_refuses_signs_nobody_in(
    client: TestClient, provider: FakeProvider
) -> None:
    with client:
        asked = started(client, provider, "/shop/")
        answer = client.get("/signin/callback", params={"code": "stolen", "state": asked["state"]})
    assert answer.status_code == 502
    assert COOKIE not in answer.cookies


def test_the_provider_and_the_development_sign_in_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="identity provider or the development one"):
        WebSettings("http://gateway.test", dev_identity_pki_dir=tmp_path, oidc=CLIENT)
