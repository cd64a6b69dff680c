"""Alembic environment of orders' migrations (`python -m orders migrate`)."""

from chassis.migrations import run_migrations

run_migrations()
