"""`python -m shopweb serve --port P --gateway-url URL [--dev-identity-pki-dir DIR |
--oidc-issuer URL --oidc-client-id ID] [--stack-state-dir DIR]`: the storefront and the
operations console. The identity provider's client secret comes from the environment
(SHOP_OIDC_CLIENT_SECRET), never the command line."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn

from shopweb.app import create_app
from shopweb.settings import OidcConfig, WebSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shopweb")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the storefront and the console")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument(
        "--gateway-url", required=True, help="the REST API, e.g. http://127.0.0.1:8080"
    )
    serve.add_argument("--dev-identity-pki-dir", type=Path, default=None)
    serve.add_argument("--stack-state-dir", type=Path, default=None)
    serve.add_argument("--secure-cookies", action="store_true")
    serve.add_argument("--oidc-issuer", help="sign in through this OpenID Connect provider")
    serve.add_argument("--oidc-client-id")
    serve.add_argument("--oidc-scope", default="openid")
    serve.add_argument("--public-url", help="the site as visitors reach it, e.g. https://...")
    args = parser.parse_args(argv)
    oidc = None
    if args.oidc_issuer:
        if not args.oidc_client_id:
            parser.error("--oidc-issuer needs --oidc-client-id")
        oidc = OidcConfig(
            args.oidc_issuer,
            args.oidc_client_id,
            os.environ.get("SHOP_OIDC_CLIENT_SECRET", ""),
            args.oidc_scope,
        )
    settings = WebSettings(
        gateway_url=args.gateway_url,
        dev_identity_pki_dir=args.dev_identity_pki_dir,
        stack_state_dir=args.stack_state_dir,
        secure_cookies=args.secure_cookies,
        oidc=oidc,
        public_url=args.public_url,
    )
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
