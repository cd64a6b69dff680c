"""Signing in through an OpenID Connect provider (the authorization code flow with PKCE),
in place of the development sign-in: `/signin` sends the visitor to the provider, and
`/signin/callback` exchanges the code for the provider's access token, which becomes the
visitor's token cookie. The gateway verifies that token like any other: point the policy's
`gateway.jwt` (issuer, audience) and its JWKS at the same provider, and have the provider
put the visitor's role ("customer" or "admin") in the token's `role` claim.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from shopweb.session import sign_in
from shopweb.settings import WebSettings

PENDING_COOKIE = "shop_signin"  # the flow's state, verifier and next page, for 10 minutes
PENDING_S = 600
DISCOVERY = "/.well-known/openid-configuration"
TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Provider:
    """The provider's endpoints, from its discovery document (read once, then kept)."""

    authorization_endpoint: str
    token_endpoint: str


class OidcClient:
    def __init__(
        self, settings: WebSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        assert settings.oidc is not None
        self.config = settings.oidc
        self._http = httpx.AsyncClient(timeout=TIMEOUT_S, transport=transport)
        self._provider: Provider | None = None

    async def close(self) -> None:
        await self._http.aclose()

    async def provider(self) -> Provider:
        if self._provider is None:
            found = await self._http.get(self.config.issuer.rstrip("/") + DISCOVERY)
            found.raise_for_status()
            document = found.json()
            self._provider = Provider(
                document["authorization_endpoint"], document["token_endpoint"]
            )
        return self._provider

    async def exchange(self, code: str, verifier: str, redirect_uri: str) -> dict[str, Any]:
        """The code for tokens, proving with the verifier that we asked for it."""
        answer = await self._http.post(
            (await self.provider()).token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "client_id": self.config.client_id,
                "client_secret": self.config.client_secret,
                "code_verifier": verifier,
            },
            headers={"accept": "application/json"},
        )
        answer.raise_for_status()
        tokens: dict[str, Any] = answer.json()
        return tokens


def routes() -> list[BaseRoute]:
    return [
        Route("/signin", _start),
        Route("/signin/callback", _callback, name="oidc-callback"),
    ]


def challenge(verifier: str) -> str:
    """PKCE's S256: the verifier's SHA-256, base64url without padding."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def safe_next(target: str | None) -> str:
    """Only a path on this site, never another origin (an open redirect)."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/shop/"


def _client(request: Request) -> OidcClient:
    client: OidcClient = request.app.state.oidc
    return client


def _redirect_uri(request: Request) -> str:
    """Where the provider sends the visitor back: on the public address when one is
    configured (behind TLS termination the request's own scheme is not the visitor's)."""
    public: str | None = request.app.state.settings.public_url
    if public:
        return public.rstrip("/") + "/signin/callback"
    return str(request.url_for("oidc-callback"))


async def _start(request: Request) -> Response:
    client = _client(request)
    state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    query = {
        "response_type": "code",
        "client_id": client.config.client_id,
        "redirect_uri": _redirect_uri(request),
        "scope": client.config.scope,
        "state": state,
        "code_challenge": challenge(verifier),
        "code_challenge_method": "S256",
    }
    target = f"{(await client.provider()).authorization_endpoint}?{urlencode(query)}"
    response = RedirectResponse(target, status_code=303)
    pending = {
        "state": state,
        "verifier": verifier,
        "next": safe_next(request.query_params.get("next")),
        "until": int(time.time()) + PENDING_S,
    }
    response.set_cookie(
        PENDING_COOKIE,
        base64.urlsafe_b64encode(json.dumps(pending).encode()).decode(),
        max_age=PENDING_S,
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back to us
        secure=request.app.state.settings.secure_cookies,
        path="/signin",
    )
    return response


def _pending(request: Request) -> dict[str, Any] | None:
    raw = request.cookies.get(PENDING_COOKIE, "")
    try:
        pending: dict[str, Any] = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except ValueError:
        return None
    if not isinstance(pending, dict) or int(pending.get("until", 0)) < time.time():
        return None
    return pending


async def _callback(request: Request) -> Response:
    pending = _pending(request)
    state = request.query_params.get("state", "")
    if pending is None or not secrets.compare_digest(str(pending.get("state", "")), state):
        return PlainTextResponse("This sign-in expired or was not started here.", 400)
    if "error" in request.query_params:
        reason = request.query_params.get("error_description") or request.query_params["error"]
        return PlainTextResponse(f"The identity provider refused: {reason}", 400)
    client = _client(request)
    try:
        tokens = await client.exchange(
            request.query_params.get("code", ""), str(pending["verifier"]), _redirect_uri(request)
        )
    except httpx.HTTPError:
        return PlainTextResponse("The identity provider did not accept the sign-in.", 502)
    token = str(tokens.get("access_token", ""))
    if not token:
        return PlainTextResponse("The identity provider sent no access token.", 502)
    response = RedirectResponse(str(pending["next"]), status_code=303)
    sign_in(
        response,
        token,
        secure=request.app.state.settings.secure_cookies,
        max_age_s=int(tokens.get("expires_in", 3600)),
    )
    response.delete_cookie(PENDING_COOKIE, path="/signin")
    return response
