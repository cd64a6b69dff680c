"""The checkout form: the shipping address as typed, the chosen speed and test card, and
the API's field paths mapped onto the form's fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from shopweb.storefront.wording import SHIPPING_SPEEDS

ADDRESS_FIELDS = (
    "recipient",
    "line1",
    "line2",
    "locality",
    "region",
    "postal_code",
    "country_code",
)
GENERAL = "general"


@dataclass
class CheckoutForm:
    """What the customer typed and chose, as the page shows it again."""

    address: dict[str, str] = field(default_factory=lambda: dict.fromkeys(ADDRESS_FIELDS, ""))
    speed: str = SHIPPING_SPEEDS[0]
    payment_token: str = ""

    @classmethod
    def read(cls, form: FormData) -> CheckoutForm:
        address = {name: str(form.get(name, "")).strip() for name in ADDRESS_FIELDS}
        address["country_code"] = address["country_code"].upper()
        return cls(
            address, str(form.get("speed", SHIPPING_SPEEDS[0])), str(form.get("payment_token", ""))
        )

    def api_address(self) -> dict[str, Any]:
        address: dict[str, Any] = {
            "recipient": self.address["recipient"],
            "lines": [line for line in (self.address["line1"], self.address["line2"]) if line],
            "locality": self.address["locality"],
            "postal_code": self.address["postal_code"],
            "country_code": self.address["country_code"],
        }
        if self.address["region"]:
            address["region"] = self.address["region"]
        return address


# The API's validation messages are written for developers ("does not match regex pattern
# `^[A-Z]{2}$`"); these say the same to a customer.
REQUIRED = "Please fill this in."
PATTERN_HINTS = {
    "postal_code": "Use letters, digits, spaces and dashes, as on a letter.",
    "country_code": "Two letters, for example DE, FR or US.",
}


def readable(name: str, description: str) -> str:
    if description.startswith(("must be at least 1 character", "must contain at least 1 item")):
        return REQUIRED
    if description.startswith("does not match regex pattern") and name in PATTERN_HINTS:
        return PATTERN_HINTS[name]
    return description


def field_errors(violations: dict[str, str]) -> dict[str, str]:
    """The API's field paths (`destination.lines[1]`, `shipping_address.postal_code`,
    `payment_token`) as the form's field names; anything else is about the whole form."""
    errors: dict[str, str] = {}
    for path, description in violations.items():
        name = path.removeprefix("destination.").removeprefix("shipping_address.")
        if name in ("lines", "lines[0]"):
            name = "line1"
        elif name.startswith("lines["):
            name = "line2"
        elif name == "shipping_speed":
            name = "speed"
        elif name not in (*ADDRESS_FIELDS, "payment_token"):
            name = GENERAL
        message = readable(name, description)
        errors[name] = f"{errors[name]} {message}" if name in errors else message
    return errors
