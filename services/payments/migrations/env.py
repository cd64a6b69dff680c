"""Alembic environment of the payments migrations (`python -m payments migrate`)."""

from chassis.migrations import run_migrations

run_migrations()
