"""Alembic environment of the notifications migrations (`python -m notifications migrate`)."""

from chassis.migrations import run_migrations

run_migrations()
