"""The deployable services of the checkout, discovered rather than registered by hand.

A service is a directory `services/<name>/` with a `pyproject.toml`; its import package is
`<name>`, started as `python -m <name> serve` after `python -m <name> migrate`. Adding the
directory is all it takes for the stack (and tox, see toxfile.py) to pick it up.
"""

from __future__ import annotations

from pathlib import Path

from shoptools.contracts.layout import find_root


def checkout_root() -> Path:
    """The checkout these tools are installed from (editable) and run in."""
    return find_root(Path(__file__))


def deployable_services(root: Path | None = None) -> list[str]:
    """Every service with a package under services/, by name, sorted."""
    services = (root or checkout_root()) / "services"
    return sorted(p.parent.name for p in services.glob("*/pyproject.toml"))
