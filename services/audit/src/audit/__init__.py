"""The audit service: a tamper-evident, hash-chained log of every domain event (see
main.py for the wiring)."""
