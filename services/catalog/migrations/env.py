"""Alembic environment of the catalog's migrations (`python -m catalog migrate`)."""

from chassis.migrations import run_migrations

run_migrations()
