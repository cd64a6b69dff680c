"""The inventory service: stock levels and TCC reservations (see main.py for the wiring)."""
