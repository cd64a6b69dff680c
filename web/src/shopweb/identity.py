"""The development sign-in: a page that issues the same kind of JWT the gateway verifies,
signed with the local token issuer's key (the directory shoptools.mesh.jwt keeps:
jwt-signing.key and jwks.json). Served only when the web process is given that directory
(the local stack and the kind/minikube overlays do; the production-like overlay does not:
an identity provider signs people in there)."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import jwt
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from shopweb import oidc
from shopweb.app import render
from shopweb.app import settings as web_settings
from shopweb.session import sign_in, sign_out
from shopweb.settings import WebSettings

TOKEN_TTL = datetime.timedelta(hours=8)
# What the gateway's JWT provider requires (mesh/policy.yaml's gateway, shoptools.mesh.jwt).
ISSUER = "https://auth.shop.local"
AUDIENCE = "shop-api"
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
ROLES = ("customer", "admin")


def routes(settings: WebSettings) -> list[BaseRoute]:
    """/signout, and /signin from the identity provider if one is configured, else the
    development one if its key is given, else none."""
    found: list[BaseRoute] = [Route("/signout", _sign_out, methods=["POST"])]
    if settings.oidc is not None:
        found += oidc.routes()
    elif settings.dev_identity_pki_dir is not None:
        found.append(Route("/signin", _sign_in, methods=["GET", "POST"]))
    return found


async def _sign_in(request: Request) -> Response:
    settings = web_settings(request)
    assert settings.dev_identity_pki_dir is not None
    if request.method == "GET":
        return render(request, "signin.html", next=oidc.safe_next(request.query_params.get("next")))
    form = await request.form()
    name = str(form.get("name", "")).strip().lower()
    role = str(form.get("role", "customer"))
    target = oidc.safe_next(str(form.get("next", "")))
    errors = {}
    if not NAME.match(name):
        errors["name"] = "Letters, digits, '.', '_' or '-', starting with a letter or digit."
    if role not in ROLES:
        errors["role"] = "Customer or admin."
    if errors:
        return render(
            request, "signin.html", status_code=400, next=target, errors=errors, name=name
        )
    token = mint_token(settings.dev_identity_pki_dir, name, role)
    response = RedirectResponse(target, status_code=303)
    sign_in(
        response,
        token,
        secure=settings.secure_cookies,
        max_age_s=int(TOKEN_TTL.total_seconds()),
    )
    return response


def mint_token(pki_dir: Path, subject: str, role: str) -> str:
    """A token signed with the issuer's key, naming the key (its id in jwks.json) so the
    gateway knows which of its keys verifies it."""
    key = (pki_dir / "jwt-signing.key").read_bytes()
    key_id = json.loads((pki_dir / "jwks.json").read_text())["keys"][0]["kid"]
    now = datetime.datetime.now(datetime.UTC)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "role": role,
        "iat": now,
        "exp": now + TOKEN_TTL,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": key_id})


async def _sign_out(_: Request) -> Response:
    response = RedirectResponse("/shop/", status_code=303)
    sign_out(response)
    return response
