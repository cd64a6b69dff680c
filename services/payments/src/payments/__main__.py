"""The payments service: authorizations, captures, refunds and their ledger (see main.py)."""

from payments.main import app

app.main()
