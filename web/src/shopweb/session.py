"""Who is signed in: the bearer token kept in an HttpOnly cookie, and its claims.

The gateway verifies the token on every API call; the pages read the claims only to
decide what to show (a customer's name, the console's links), never to grant access.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jwt
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

COOKIE = "shop_token"


@dataclass(frozen=True)
class Visitor:
    token: str | None
    subject: str | None
    role: str | None

    @property
    def signed_in(self) -> bool:
        return self.token is not None

    @property
    def admin(self) -> bool:
        return self.role == "admin"


ANONYMOUS = Visitor(None, None, None)


def visitor(request: Request) -> Visitor:
    """The signed-in person, or ANONYMOUS (no cookie, or a token that is not a JWT or has
    expired: the gateway would refuse it anyway)."""
    token = request.cookies.get(COOKIE)
    if not token:
        return ANONYMOUS
    try:
        claims: dict[str, Any] = jwt.decode(
            token, options={"verify_signature": False, "verify_exp": True}
        )
    except jwt.PyJWTError:
        return ANONYMOUS
    return Visitor(token, str(claims.get("sub", "")), str(claims.get("role", "")))


def sign_in(response: Response, token: str, *, secure: bool, max_age_s: int) -> None:
    response.set_cookie(
        COOKIE, token, max_age=max_age_s, httponly=True, samesite="lax", secure=secure, path="/"
    )


def sign_out(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def sign_in_redirect(request: Request) -> Response:
    """To the sign-in page, then back to this page (its path and query)."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(here, safe='')}", status_code=303)
