"""The card processor, as the use cases need it: a port with one adapter today, the
simulated processor (simulated_processor.py); a real gateway's client would be another.

Every call carries an idempotency key of the processor's own, derived from the request's
(`processor_key`): when a call ends without an answer (ProcessorUnavailable, the outcome
unknown), the caller's retry with the same idempotency key asks the processor again with
the same key, and the processor answers what it did the first time instead of doing it
twice. That is what keeps a timeout from charging, capturing or refunding twice.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from payments.domain import Money, ProcessorAnswer

# A fixed namespace, so a key derives the same processor key in every instance and release.
_PROCESSOR_KEYS = uuid.UUID("8b5f3c52-7d0e-4c1e-9a57-2f6d0b1e4a90")


def processor_key(operation: str, key: str) -> str:
    """The processor's idempotency key for `operation` ("authorize", "capture", ...) of the
    command or event keyed `key`. One per operation, so one key never means two things."""
    return str(uuid.uuid5(_PROCESSOR_KEYS, f"{operation}/{key}"))


class CardProcessor(Protocol):
    """A card gateway. Each call raises domain.ProcessorUnavailable when it got no answer
    in time; the same call with the same key may then be repeated safely."""

    async def authorize(
        self, *, idempotency_key: str, amount: Money, payment_token: str
    ) -> ProcessorAnswer:
        """Asks to hold `amount` on the card behind the token: an Approval with the
        authorization's reference, or a Decline with its reason."""
        ...

    async def capture(self, *, idempotency_key: str, reference: str, amount: Money) -> None:
        """Takes `amount` of the authorization `reference`, releasing the rest."""
        ...

    async def void(self, *, idempotency_key: str, reference: str) -> None:
        """Releases the authorization `reference`'s hold."""
        ...

    async def refund(self, *, idempotency_key: str, reference: str, amount: Money) -> None:
        """Gives `amount` of what was captured on `reference` back to the card."""
        ...
