"""Alembic environment of audit's migrations (`python -m audit migrate`)."""

from chassis.migrations import run_migrations

run_migrations()
