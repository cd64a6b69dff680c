"""The `shop` command moved to shoptools.shop.cli (the one module that knows both the
stack and the mesh). Environments installed before the move have a `shop` script that
imports `main` from here; reinstalling tools/ (scripts/_venv.sh does it when
tools/pyproject.toml changes) makes this module unnecessary."""

from shoptools.shop.cli import main

__all__ = ["main"]
