"""A service's migrations directory, as small as it gets (the chassis tests' example)."""

from chassis.migrations import run_migrations

run_migrations()
