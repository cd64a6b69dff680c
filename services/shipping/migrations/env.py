"""Alembic environment of shipping's migrations (`python -m shipping migrate`)."""

from chassis.migrations import run_migrations

run_migrations()
