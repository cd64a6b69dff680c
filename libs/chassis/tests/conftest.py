"""The chassis's database tests: the plugin's PostgreSQL server (chassis.testing), and a
fresh, empty database per test."""

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import MetaData, create_engine

from chassis.idempotency import idempotency_table
from chassis.outbox import outbox_table
from chassis.testing.plugin import PostgresServer


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new, empty database; its SQLAlchemy URL."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)


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
