"""The built-in card processor: a card gateway's test mode, in memory.

Its answer follows the payment token (TEST_CARDS; the README lists them): approve, decline
for a reason, never answer, or lose the first answer of every call. It honours idempotency
keys as a real gateway does: a call repeated with the same key gets the first answer and
has no second effect; the same key with other parameters is refused.

It also keeps the books a real gateway keeps (what it holds, took and gave back per
authorization) and refuses what a real one would (capturing twice, refunding more than
was taken). Payments' own rules should make those refusals unreachable; tests read
`authorization()` to check that payments and "the processor" agree.

Its memory is the instance's: with several instances, a retry that reaches another one
is a first attempt there (a flaky card fails it once more; the reference it answers is
derived from the key, so it is the same everywhere).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from payments.domain import (
    Approval,
    Decline,
    DeclineReason,
    Money,
    ProcessorAnswer,
    ProcessorUnavailable,
)

T = TypeVar("T")


class Answering(enum.Enum):
    ALWAYS = "answers every call"
    NEVER = "never answers (every call times out, nothing happens)"
    LOSES_FIRST_ANSWER = (
        "the first call with each idempotency key takes effect, then times out; "
        "a retry with the same key gets the answer"
    )


@dataclass(frozen=True)
class SimulatedCard:
    token: str
    behaviour: str  # for people: what the README says
    decline: DeclineReason | None = None
    answering: Answering = Answering.ALWAYS


TEST_CARDS = (
    SimulatedCard("tok_visa", "approved"),
    SimulatedCard("tok_mastercard", "approved"),
    SimulatedCard("tok_declined", "declined", DeclineReason.PROCESSOR_DECLINED),
    SimulatedCard(
        "tok_insufficient_funds", "declined: insufficient funds", DeclineReason.INSUFFICIENT_FUNDS
    ),
    SimulatedCard("tok_expired_card", "declined: card expired", DeclineReason.CARD_EXPIRED),
    SimulatedCard("tok_fraudulent", "declined: suspected fraud", DeclineReason.SUSPECTED_FRAUD),
    SimulatedCard("tok_timeout", "the authorization times out", answering=Answering.NEVER),
    SimulatedCard(
        "tok_flaky",
        "approved, but every call's first attempt times out after taking effect",
        answering=Answering.LOSES_FIRST_ANSWER,
    ),
)
CARDS_BY_TOKEN = {card.token: card for card in TEST_CARDS}
UNKNOWN_TOKEN = SimulatedCard(
    "", "declined: invalid payment token", DeclineReason.INVALID_PAYMENT_TOKEN
)


class ProcessorRefused(Exception):
    """What a real gateway answers with an error (a 4xx): a request it will never carry
    out. Payments' rules keep it from asking these, so reaching one is a bug (INTERNAL)."""


@dataclass
class SimulatedAuthorization:
    """The processor's books for one approved authorization."""

    reference: str
    card: SimulatedCard
    authorized: Money
    captured: int = 0
    refunded: int = 0
    voided: bool = False

    @property
    def held(self) -> int:
        """What is still held on the card (nothing once captured or voided)."""
        return 0 if self.voided or self.captured else self.authorized.amount_minor

    @property
    def taken(self) -> int:
        """What the card is charged, net of refunds."""
        return self.captured - self.refunded


class SimulatedProcessor:
    """A CardProcessor (processor.py) in memory."""

    def __init__(self) -> None:
        self._authorizations: dict[str, SimulatedAuthorization] = {}
        # processor key -> (digest of the call's parameters, its answer)
        self._answered: dict[str, tuple[str, object]] = {}
        self.calls = 0
        """Calls received, answered or not (for tests)."""

    def authorization(self, reference: str) -> SimulatedAuthorization | None:
        return self._authorizations.get(reference)

    def authorizations(self) -> list[SimulatedAuthorization]:
        return list(self._authorizations.values())

    async def authorize(
        self, *, idempotency_key: str, amount: Money, payment_token: str
    ) -> ProcessorAnswer:
        self.calls += 1
        card = CARDS_BY_TOKEN.get(payment_token, UNKNOWN_TOKEN)
        if card.answering is Answering.NEVER:
            raise ProcessorUnavailable("authorization")
        reference = "simauth_" + _digest(idempotency_key)[:24]

        def hold() -> ProcessorAnswer:
            if card.decline is not None:
                return Decline(reference, card.decline)
            self._authorizations[reference] = SimulatedAuthorization(reference, card, amount)
            return Approval(reference)

        parameters = ("authorize", amount, payment_token)
        return self._once(idempotency_key, parameters, card, "authorization", hold)

    async def capture(self, *, idempotency_key: str, reference: str, amount: Money) -> None:
        self.calls += 1
        held = self._approved(reference)

        def take() -> None:
            if held.voided or held.captured:
                raise ProcessorRefused(f"{reference} is no longer held")
            if amount.currency != held.authorized.currency:
                raise ProcessorRefused(f"{reference} is in {held.authorized.currency}")
            if not 0 < amount.amount_minor <= held.authorized.amount_minor:
                raise ProcessorRefused(f"cannot capture {amount} of {held.authorized}")
            held.captured = amount.amount_minor

        self._once(idempotency_key, ("capture", reference, amount), held.card, "capture", take)

    async def void(self, *, idempotency_key: str, reference: str) -> None:
        self.calls += 1
        held = self._approved(reference)

        def release() -> None:
            if held.captured:
                raise ProcessorRefused(f"{reference} was captured; refund it")
            held.voided = True

        self._once(idempotency_key, ("void", reference), held.card, "void", release)

    async def refund(self, *, idempotency_key: str, reference: str, amount: Money) -> None:
        self.calls += 1
        held = self._approved(reference)

        def give_back() -> None:
            if amount.currency != held.authorized.currency:
                raise ProcessorRefused(f"{reference} is in {held.authorized.currency}")
            if not 0 < amount.amount_minor <= held.taken:
                raise ProcessorRefused(f"cannot refund {amount}: {held.taken} is left")
            held.refunded += amount.amount_minor

        self._once(idempotency_key, ("refund", reference, amount), held.card, "refund", give_back)

    def _approved(self, reference: str) -> SimulatedAuthorization:
        held = self._authorizations.get(reference)
        if held is None:
            raise ProcessorRefused(f"no approved authorization {reference}")
        return held

    def _once(
        self,
        key: str,
        parameters: tuple[object, ...],
        card: SimulatedCard,
        operation: str,
        effect: Callable[[], T],
    ) -> T:
        """The effect once per key: a repeat gets the first answer back, unchanged."""
        fingerprint = _digest(repr(parameters))  # the token only as a digest, as payments does
        answered = self._answered.get(key)
        if answered is not None:
            first_fingerprint, answer = answered
            if first_fingerprint != fingerprint:
                raise ProcessorRefused(f"idempotency key {key} was used with other parameters")
            return answer  # type: ignore[return-value]  # what effect() returned for this key
        answer = effect()
        self._answered[key] = (fingerprint, answer)
        if card.answering is Answering.LOSES_FIRST_ANSWER:
            raise ProcessorUnavailable(operation)  # done, but the answer never arrived
        return answer


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
