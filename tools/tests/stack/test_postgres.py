"""One database and one role per context; a role reaches its own database only."""

from __future__ import annotations

import stat

import psycopg
import pytest

from chassis.config import ServiceSettings
from shoptools.stack.postgres import DATABASES, Postgres


def dsn(postgres: Postgres, database: str, *, as_database: str | None = None) -> str:
    """libpq form of the service's URL, optionally pointed at another database."""
    url = postgres.database_url(database).replace("postgresql+psycopg://", "postgresql://")
    return url if as_database is None else url.rsplit("/", 1)[0] + f"/{as_database}"


def test_each_context_has_its_own_role_and_database(postgres: Postgres) -> None:
    for database in DATABASES:
        with psycopg.connect(dsn(postgres, database)) as conn:
            row = conn.execute("SELECT current_user, current_database()").fetchone()
        assert row == (f"{database}_svc", database)


def test_a_role_cannot_connect_to_another_services_database(postgres: Postgres) -> None:
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(dsn(postgres, "catalog", as_database="orders"))
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(dsn(postgres, "catalog", as_database="postgres"))


def test_a_wrong_password_is_refused(postgres: Postgres) -> None:
    url = f"postgresql://catalog_svc:not-the-password@{postgres.address}/catalog"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(url)


def test_passwords_are_generated_once_and_private(postgres: Postgres) -> None:
    assert stat.S_IMODE(postgres.passwords_file.stat().st_mode) == 0o600
    url = postgres.database_url("catalog")
    postgres.provision()  # idempotent: the same roles, the same passwords
    assert postgres.database_url("catalog") == url


def test_stops_with_pg_ctl_and_keeps_its_data(postgres: Postgres) -> None:
    with psycopg.connect(dsn(postgres, "catalog")) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS kept (id int)")
        conn.execute("INSERT INTO kept VALUES (1)")

    postgres.stop()
    assert postgres.pid() is None
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn(postgres, "catalog"), connect_timeout=2)

    postgres.start()
    postgres.provision()
    assert postgres.pid() is not None
    with psycopg.connect(dsn(postgres, "catalog")) as conn:
        assert conn.execute("SELECT count(*) FROM kept").fetchone() == (1,)


def test_room_for_every_context_at_its_full_pools(postgres: Postgres) -> None:
    """Each instance may open its pool and as many reader connections (chassis.db) plus a
    listener; two instances of every context at their full pools must fit (PostgreSQL's
    default of 100 refused connections under the order benchmark)."""
    per_instance = 2 * ServiceSettings.model_fields["db_pool_size"].default + 2
    with psycopg.connect(dsn(postgres, "catalog")) as conn:
        row = conn.execute("SHOW max_connections").fetchone()
    assert row is not None
    assert int(row[0]) >= 2 * len(DATABASES) * per_instance
