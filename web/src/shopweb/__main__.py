"""`python -m shopweb serve --port P --gateway-url URL [--dev-identity-pki-dir DIR]
[--stack-state-dir DIR]`: the storefront and the operations console."""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

from shopweb.app import create_app
from shopweb.settings import WebSettings


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
    args = parser.parse_args(argv)
    settings = WebSettings(
        gateway_url=args.gateway_url,
        dev_identity_pki_dir=args.dev_identity_pki_dir,
        stack_state_dir=args.stack_state_dir,
        secure_cookies=args.secure_cookies,
    )
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
