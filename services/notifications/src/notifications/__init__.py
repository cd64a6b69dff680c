"""The notifications service: messages to customers, produced from other contexts' events,
and the preferences that decide where they go (see main.py for the wiring)."""
