"""Fixtures for the stack tests; every process they start is stopped in a finalizer, also
when the test fails."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shoptools.stack.postgres import Postgres

from .harness import isolated_topology


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """One server for a module's tests (initdb and seven databases take a few seconds)."""
    with isolated_topology() as topology:
        server = Postgres(topology)
        try:
            server.start()
            server.provision()
            yield server
        finally:
            server.stop()
