"""Alembic environment of inventory's migrations (`python -m inventory migrate`)."""

from chassis.migrations import run_migrations

run_migrations()
