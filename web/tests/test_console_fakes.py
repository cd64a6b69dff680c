"""What the console's tests share: the app with a fake gateway (httpx.MockTransport
answering from a table of canned replies), and sign-in cookies. No tests here."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
from starlette.testclient import TestClient

from shopweb.app import create_app
from shopweb.gateway import Gateway
from shopweb.session import COOKIE
from shopweb.settings import WebSettings

GATEWAY = "http://gateway.test"
Reply = tuple[int, dict[str, Any]]
Answer = Callable[[httpx.Request], Reply]


class FakeGateway:
    """Answers each (method, path) from `replies`; records every request it got."""

    def __init__(self, replies: dict[tuple[str, str], Reply | Answer] | None = None) -> None:
        self.replies: dict[tuple[str, str], Reply | Answer] = replies or {}
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        found = self.replies.get((request.method, request.url.path))
        if found is None:
            return httpx.Response(404, json={"code": 5, "message": "not found"})
        status, body = found(request) if callable(found) else found
        return httpx.Response(status, json=body)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.url.path == path]


def token_for(subject: str, role: str) -> str:
    """A token the pages can read (they never check its signature: the gateway does)."""
    return jwt.encode({"sub": subject, "role": role, "exp": 4_102_444_800}, "k" * 32)


@contextmanager
def console(
    fake: FakeGateway | None = None,
    role: str | None = "admin",
    stack_state_dir: Path | None = None,
) -> Iterator[TestClient]:
    """A client of the web app whose gateway is `fake`, signed in with `role` (None:
    anonymous); redirects are not followed, so tests see them."""
    settings = WebSettings(
        gateway_url=GATEWAY,
        dev_identity_pki_dir=Path("/nonexistent"),
        stack_state_dir=stack_state_dir,
    )
    app = create_app(settings)
    with TestClient(app, follow_redirects=False) as client:
        app.state.gateway = Gateway(
            GATEWAY, transport=httpx.MockTransport((fake or FakeGateway()).handle)
        )
        if role is not None:
            client.cookies.set(COOKIE, token_for("root" if role == "admin" else "ada", role))
        yield client


def bad_request(*violations: tuple[str, str]) -> Reply:
    """The gateway's INVALID_ARGUMENT body with these field violations."""
    return 400, {
        "code": 3,
        "message": "invalid request",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "field_violations": [
                    {"field": field, "description": description}
                    for field, description in violations
                ],
            }
        ],
    }
