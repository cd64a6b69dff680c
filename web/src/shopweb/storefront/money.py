"""Money as the API carries it (`{"currency_code", "amount_minor"}`, int64 as a string),
exact in minor units, and how a customer reads it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Currencies Shopmesh settles in without a minor unit; every other one has cents.
WHOLE_UNIT_CURRENCIES = frozenset({"JPY"})
SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}


@dataclass(frozen=True)
class Money:
    currency: str
    minor: int

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.currency, self.minor + other.minor)

    def times(self, quantity: int) -> Money:
        return Money(self.currency, self.minor * quantity)

    def to_api(self) -> dict[str, str]:
        return {"currency_code": self.currency, "amount_minor": str(self.minor)}

    def __str__(self) -> str:
        return format_money(self)


def from_api(value: dict[str, Any] | None) -> Money | None:
    """The API's Money, or None when it is absent or unreadable."""
    if not value or "currency_code" not in value:
        return None
    try:
        return Money(str(value["currency_code"]), int(value.get("amount_minor", "0") or 0))
    except ValueError:
        return None


def format_money(money: Money | None) -> str:
    """ "€29.90", "CHF 12.50", "¥1200"; an absent amount reads as a dash."""
    if money is None:
        return "—"
    if money.currency in WHOLE_UNIT_CURRENCIES:
        amount = f"{money.minor:,}"
    else:
        amount = f"{money.minor // 100:,}.{money.minor % 100:02d}"
    symbol = SYMBOLS.get(money.currency)
    return f"{symbol}{amount}" if symbol else f"{money.currency} {amount}"
