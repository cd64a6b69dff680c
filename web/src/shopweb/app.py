"""The web process: the storefront under /shop/, the operations console under /console/,
the development sign-in under /signin (only with a local token issuer), static assets under
/web-static/. The gateway routes these paths here, like every other route of the edge."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopweb.gateway import Gateway
from shopweb.oidc import OidcClient
from shopweb.session import visitor
from shopweb.settings import WebSettings

PACKAGE = Path(str(files("shopweb")))
# The pages load scripts, styles and pictures from this site only, and no other site may
# frame them (clickjacking) or read where they came from.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
templates = Jinja2Templates(directory=PACKAGE / "templates")


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    """A page, with who is signed in and the settings every page's layout needs."""
    return templates.TemplateResponse(
        request,
        template,
        {"visitor": visitor(request), "can_sign_in": settings(request).can_sign_in} | context,
        status_code=status_code,
    )


def settings(request: Request) -> WebSettings:
    found: WebSettings = request.app.state.settings
    return found


def gateway(request: Request) -> Gateway:
    found: Gateway = request.app.state.gateway
    return found


async def _healthz(_: Request) -> Response:
    return PlainTextResponse("ok")


class SecurityHeaders:
    """SECURITY_HEADERS on every response (a plain ASGI middleware: no per-request task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(
    settings: WebSettings, transport: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    """The app; `transport` carries its HTTP calls (the gateway, the identity provider)
    where a test answers them."""
    from shopweb import console, identity, storefront  # noqa: PLC0415 (they import render)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.gateway = Gateway(settings.gateway_url, transport)
        app.state.oidc = OidcClient(settings, transport) if settings.oidc else None
        try:
            async with console.lifespan(app):  # stops the stack view's sampler, if a visit ran it
                yield
        finally:
            await app.state.gateway.close()
            if app.state.oidc is not None:
                await app.state.oidc.close()

    found: list[BaseRoute] = [
        Route("/", lambda _: RedirectResponse("/shop/", status_code=303)),
        Route("/healthz", _healthz),
        Mount("/web-static", StaticFiles(directory=PACKAGE / "static"), name="static"),
        Mount("/shop", routes=storefront.routes()),
        Mount("/console", routes=console.routes()),
        *identity.routes(settings),
    ]
    app = Starlette(routes=found, lifespan=lifespan, middleware=[Middleware(SecurityHeaders)])
    app.state.settings = settings
    return app
