"""The shipping service: quotes, shipments and their dispatch (see main.py for the wiring)."""
