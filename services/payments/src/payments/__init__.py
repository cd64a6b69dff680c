"""The payments service: card authorizations, captures, voids, refunds and their
double-entry ledger (see main.py for the wiring)."""
