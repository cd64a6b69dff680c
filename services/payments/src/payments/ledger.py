"""The double-entry ledger: every money movement of a payment as postings that sum to zero.

Pure: no I/O. Amounts are signed minor units of one currency, debit positive and credit
negative, so "balanced" means "sums to zero". Three accounts follow the money:

    customer_cards        the customers' cards: credited when money is held or taken from
                          them, debited when a hold is released or money is given back
    authorization_holds   held on a card for us, not yet taken
    processor_settlement  taken, owed to us by the processor (net of refunds)

For one payment, at any time: authorization_holds is the authorized amount while the
payment is AUTHORIZED (else zero), processor_settlement is captured minus refunded, and
customer_cards is minus their sum (see domain.Payment.ledger_balances).
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass
from datetime import datetime


class Account(enum.Enum):
    CUSTOMER_CARDS = "customer_cards"
    AUTHORIZATION_HOLDS = "authorization_holds"
    PROCESSOR_SETTLEMENT = "processor_settlement"


class MovementKind(enum.Enum):
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


class UnbalancedMovement(ValueError):
    """Postings that do not sum to zero: a bug in whoever built them, never a request's."""


@dataclass(frozen=True)
class Posting:
    account: Account
    amount_minor: int  # debit positive, credit negative; never zero


@dataclass(frozen=True)
class Origin:
    """Which transition a movement records: a payment changes version with every one, so
    (payment_id, version) names it (the database keys the entries that way too)."""

    payment_id: str
    version: int
    currency: str
    at: datetime


@dataclass(frozen=True)
class Movement:
    """One transition's money movement, in its payment's currency."""

    origin: Origin
    kind: MovementKind
    postings: tuple[Posting, ...]

    def __post_init__(self) -> None:
        if len(self.postings) < 2:
            raise UnbalancedMovement("a movement has at least two postings")
        if any(p.amount_minor == 0 for p in self.postings):
            raise UnbalancedMovement("a posting of zero moves nothing; leave it out")
        if len({p.account for p in self.postings}) != len(self.postings):
            raise UnbalancedMovement("one posting per account and movement")
        total = sum(p.amount_minor for p in self.postings)
        if total != 0:
            raise UnbalancedMovement(f"postings sum to {total}, not zero")


def authorization(origin: Origin, authorized: int) -> Movement:
    """The processor holds `authorized` on the card for us."""
    return _movement(
        origin,
        MovementKind.AUTHORIZATION,
        {Account.CUSTOMER_CARDS: -authorized, Account.AUTHORIZATION_HOLDS: authorized},
    )


def capture(origin: Origin, authorized: int, captured: int) -> Movement:
    """The hold ends: `captured` is taken, the rest goes back to the card."""
    return _movement(
        origin,
        MovementKind.CAPTURE,
        {
            Account.AUTHORIZATION_HOLDS: -authorized,
            Account.PROCESSOR_SETTLEMENT: captured,
            Account.CUSTOMER_CARDS: authorized - captured,
        },
    )


def void(origin: Origin, authorized: int) -> Movement:
    """The hold is released, all of it back to the card."""
    return _movement(
        origin,
        MovementKind.VOID,
        {Account.AUTHORIZATION_HOLDS: -authorized, Account.CUSTOMER_CARDS: authorized},
    )


def refund(origin: Origin, refunded: int) -> Movement:
    """Taken money goes back to the card."""
    return _movement(
        origin,
        MovementKind.REFUND,
        {Account.PROCESSOR_SETTLEMENT: -refunded, Account.CUSTOMER_CARDS: refunded},
    )


def balances(movements: list[Movement]) -> dict[tuple[str, Account], int]:
    """Each (currency, account)'s balance over `movements`."""
    totals: Counter[tuple[str, Account]] = Counter()
    for movement in movements:
        for posting in movement.postings:
            totals[(movement.origin.currency, posting.account)] += posting.amount_minor
    return dict(totals)


def _movement(origin: Origin, kind: MovementKind, amounts: dict[Account, int]) -> Movement:
    postings = tuple(Posting(account, amount) for account, amount in amounts.items() if amount)
    return Movement(origin, kind, postings)
