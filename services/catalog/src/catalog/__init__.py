"""The catalog service: products, prices and search (see main.py for the wiring)."""
