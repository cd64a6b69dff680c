"""The payments model: a card payment's lifecycle and the rules every transition obeys.

    AUTHORIZED -> CAPTURED -> PARTIALLY_REFUNDED -> REFUNDED
    AUTHORIZED -> VOIDED
    DECLINED (from the start)

Pure: no I/O, no gRPC, no SQL. Each decision is a function from the payment as it is to
the change (the payment's next version and the ledger movement it posts), or a refusal
named by the contract (a DomainError subclass). The processor's part is an input: the
use cases ask it (processor.py) and hand its answer here.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, replace
from datetime import datetime

from chassis.domain import DomainError
from payments import ledger
from payments.ledger import Account, Movement

CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
ONLY_DIGITS = re.compile(r"[0-9]+")
MAX_REASON_LENGTH = 500


class PaymentStatus(enum.Enum):
    AUTHORIZED = "AUTHORIZED"
    DECLINED = "DECLINED"
    CAPTURED = "CAPTURED"
    VOIDED = "VOIDED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


CAPTURED_STATUSES = frozenset(
    {PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
)


class DeclineReason(enum.Enum):
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    CARD_EXPIRED = "CARD_EXPIRED"
    SUSPECTED_FRAUD = "SUSPECTED_FRAUD"
    PROCESSOR_DECLINED = "PROCESSOR_DECLINED"
    INVALID_PAYMENT_TOKEN = "INVALID_PAYMENT_TOKEN"


# --- refusals: one per outcome the contract names (errors.proto) ---------------------------


class InvalidPayment(DomainError):
    """A value breaks an invariant. The contract's validation rejects such requests first,
    so through the API this means the two disagree: a bug (left unmapped, INTERNAL)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field=field)


class PaymentNotFound(DomainError):
    def __init__(self, payment_id: str) -> None:
        super().__init__(f"no payment with id {payment_id}", metadata={"payment_id": payment_id})


class _RefusedTransition(DomainError):
    """A request the payment's status or amounts do not allow."""

    def __init__(
        self, payment: Payment, message: str, *, field: str | None = None, **more: str
    ) -> None:
        metadata = {"payment_id": payment.payment_id, "status": payment.status.value, **more}
        super().__init__(message, field=field, metadata=metadata)


class PaymentNotAuthorized(_RefusedTransition):
    def __init__(self, payment: Payment) -> None:
        super().__init__(payment, f"payment is {payment.status.value}: nothing to capture")


class PaymentAlreadyCaptured(_RefusedTransition):
    def __init__(self, payment: Payment) -> None:
        super().__init__(payment, "payment was already captured; refund it instead")


class PaymentNotCaptured(_RefusedTransition):
    def __init__(self, payment: Payment) -> None:
        super().__init__(
            payment, f"payment is {payment.status.value}: nothing was captured to refund"
        )


class CaptureExceedsAuthorization(_RefusedTransition):
    def __init__(self, payment: Payment, requested: Money) -> None:
        super().__init__(
            payment,
            f"capture of {requested} exceeds the authorized {payment.authorized}",
            authorized_amount_minor=str(payment.authorized.amount_minor),
            requested_amount_minor=str(requested.amount_minor),
        )


class RefundExceedsCapture(_RefusedTransition):
    def __init__(self, payment: Payment, requested: Money) -> None:
        super().__init__(
            payment,
            f"refund of {requested} exceeds the {payment.refundable} captured and not refunded",
            refundable_amount_minor=str(payment.refundable.amount_minor),
            requested_amount_minor=str(requested.amount_minor),
        )


class CurrencyMismatch(_RefusedTransition):
    def __init__(self, payment: Payment, requested: Money) -> None:
        super().__init__(
            payment,
            f"amount is in {requested.currency}, the payment in {payment.currency}",
            field="amount.currency_code",
            payment_currency=payment.currency,
        )


class ProcessorUnavailable(DomainError):
    """The processor did not answer in time: the outcome is unknown. A retry with the same
    idempotency key asks the processor again with the same key of its own, so it never
    charges or refunds twice."""

    def __init__(self, operation: str) -> None:
        super().__init__(
            f"the card processor did not answer the {operation} in time; "
            "retry with the same idempotency key",
            metadata={"operation": operation},
        )


class PaymentOrderMismatch(DomainError):
    """An OrderCancelled names a payment of another order (a consumer's poison message)."""

    def __init__(self, payment: Payment, order_id: str) -> None:
        super().__init__(
            f"payment {payment.payment_id} is for order {payment.order_id}, not {order_id}",
            metadata={"payment_id": payment.payment_id, "order_id": order_id},
        )


# --- values ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Money:
    """An exact amount: ISO 4217 currency code and integer minor units (cents)."""

    currency: str
    amount_minor: int

    def __post_init__(self) -> None:
        if not CURRENCY_PATTERN.fullmatch(self.currency):
            raise InvalidPayment("amount.currency_code", "must be an ISO 4217 code")
        if self.amount_minor < 0:
            raise InvalidPayment("amount.amount_minor", "must not be negative")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(currency, 0)

    def __add__(self, other: Money) -> Money:
        return Money(self.currency, self.amount_minor + self._same_currency(other).amount_minor)

    def __sub__(self, other: Money) -> Money:
        return Money(self.currency, self.amount_minor - self._same_currency(other).amount_minor)

    def __str__(self) -> str:
        return f"{self.amount_minor} {self.currency} minor units"

    def _same_currency(self, other: Money) -> Money:
        if other.currency != self.currency:  # the decisions check currencies first
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")
        return other


def _require_positive(amount: Money) -> None:
    if amount.amount_minor <= 0:
        raise InvalidPayment("amount.amount_minor", "must be greater than zero")


def _require_reason(reason: str) -> None:
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidPayment("reason", f"must be at most {MAX_REASON_LENGTH} characters")


@dataclass(frozen=True)
class AuthorizationRequest:
    """What AuthorizePayment asks for (the request its idempotency key is bound to).

    The token is the processor's, for this call only: it is never stored, logged or
    returned (repr=False keeps it out of log lines and tracebacks). The idempotency record
    keeps a one-way digest of the whole request, so a retry with another token is told
    apart from a true retry without the token being kept."""

    order_id: str
    customer_id: str
    amount: Money
    payment_token: str = field(repr=False)

    def __post_init__(self) -> None:
        _require_positive(self.amount)
        if not TOKEN_PATTERN.fullmatch(self.payment_token):
            raise InvalidPayment("payment_token", "must be 1-128 letters, digits, _ or -")
        if ONLY_DIGITS.fullmatch(self.payment_token):
            raise InvalidPayment("payment_token", "must be a processor token, never a card number")


@dataclass(frozen=True)
class CaptureRequest:
    payment_id: str
    amount: Money | None  # None: the whole authorized amount

    def __post_init__(self) -> None:
        if self.amount is not None:
            _require_positive(self.amount)


@dataclass(frozen=True)
class VoidRequest:
    payment_id: str
    reason: str

    def __post_init__(self) -> None:
        _require_reason(self.reason)


@dataclass(frozen=True)
class RefundRequest:
    payment_id: str
    amount: Money | None  # None: everything captured and not yet refunded
    reason: str

    def __post_init__(self) -> None:
        if self.amount is not None:
            _require_positive(self.amount)
        _require_reason(self.reason)


@dataclass(frozen=True)
class OrderCancellation:
    """What payments needs of an OrderCancelled event."""

    order_id: str
    payment_id: str | None  # None: no payment was authorized for the order
    total: Money  # at most this is refunded
    reason: str


@dataclass(frozen=True)
class Approval:
    """The processor holds the amount; `reference` names the authorization at the processor."""

    reference: str


@dataclass(frozen=True)
class Decline:
    reference: str
    reason: DeclineReason


ProcessorAnswer = Approval | Decline


# --- the aggregate ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Payment:
    """One card payment for one order, at a version; every transition makes a new version.
    No card data: the processor's reference is all it keeps of the card."""

    payment_id: str
    order_id: str
    customer_id: str
    status: PaymentStatus
    authorized: Money
    captured: Money
    refunded: Money
    decline_reason: DeclineReason | None
    processor_reference: str
    created_at: datetime
    updated_at: datetime
    version: int

    def __post_init__(self) -> None:
        currency = self.authorized.currency
        if {self.captured.currency, self.refunded.currency} != {currency}:
            raise InvalidPayment("currency", "all of a payment's amounts share one currency")
        _require_positive(self.authorized)
        if self.captured.amount_minor > self.authorized.amount_minor:
            raise InvalidPayment("captured", "must not exceed the authorized amount")
        if self.refunded.amount_minor > self.captured.amount_minor:
            raise InvalidPayment("refunded", "must not exceed the captured amount")
        if (self.status is PaymentStatus.DECLINED) != (self.decline_reason is not None):
            raise InvalidPayment("decline_reason", "is set exactly when DECLINED")
        if (self.status in CAPTURED_STATUSES) != (self.captured.amount_minor > 0):
            raise InvalidPayment("captured", "is more than zero exactly once captured")
        fully_refunded = self.refunded == self.captured
        if self.status is PaymentStatus.CAPTURED and self.refunded.amount_minor:
            raise InvalidPayment("refunded", "is zero while CAPTURED")
        if self.status is PaymentStatus.PARTIALLY_REFUNDED and (
            fully_refunded or not self.refunded.amount_minor
        ):
            raise InvalidPayment("refunded", "is part of the captured amount")
        if self.status is PaymentStatus.REFUNDED and not fully_refunded:
            raise InvalidPayment("refunded", "is all of the captured amount once REFUNDED")
        if self.version < 1:
            raise InvalidPayment("version", "starts at 1")

    @property
    def currency(self) -> str:
        return self.authorized.currency

    @property
    def refundable(self) -> Money:
        return self.captured - self.refunded

    def ledger_balances(self) -> dict[Account, int]:
        """What the ledger's accounts must hold for this payment (see ledger.py)."""
        held = self.authorized.amount_minor if self.status is PaymentStatus.AUTHORIZED else 0
        settled = self.refundable.amount_minor
        return {
            Account.CUSTOMER_CARDS: -(held + settled),
            Account.AUTHORIZATION_HOLDS: held,
            Account.PROCESSOR_SETTLEMENT: settled,
        }


# --- changes: a transition's new payment and what it posts to the ledger ---------------------


@dataclass(frozen=True)
class Authorized:
    payment: Payment
    movement: Movement


@dataclass(frozen=True)
class Declined:
    payment: Payment  # a decline moves no money


@dataclass(frozen=True)
class Captured:
    payment: Payment
    movement: Movement
    amount: Money


@dataclass(frozen=True)
class Voided:
    payment: Payment
    movement: Movement
    reason: str


@dataclass(frozen=True)
class Refunded:
    payment: Payment
    movement: Movement
    amount: Money
    reason: str


Change = Authorized | Declined | Captured | Voided | Refunded


# --- decisions -------------------------------------------------------------------------------


def authorize(
    payment_id: str, request: AuthorizationRequest, answer: ProcessorAnswer, now: datetime
) -> Authorized | Declined:
    """The new payment, from the processor's answer to its authorization."""
    zero = Money.zero(request.amount.currency)
    declined = isinstance(answer, Decline)
    payment = Payment(
        payment_id=payment_id,
        order_id=request.order_id,
        customer_id=request.customer_id,
        status=PaymentStatus.DECLINED if declined else PaymentStatus.AUTHORIZED,
        authorized=request.amount,
        captured=zero,
        refunded=zero,
        decline_reason=answer.reason if isinstance(answer, Decline) else None,
        processor_reference=answer.reference,
        created_at=now,
        updated_at=now,
        version=1,
    )
    if declined:
        return Declined(payment)
    movement = ledger.authorization(_origin(payment), request.amount.amount_minor)
    return Authorized(payment, movement)


def capture(payment: Payment, amount: Money | None, now: datetime) -> Captured:
    """Takes `amount` (None: all) of an AUTHORIZED payment; the rest of the hold is released."""
    if payment.status in CAPTURED_STATUSES:
        raise PaymentAlreadyCaptured(payment)
    if payment.status is not PaymentStatus.AUTHORIZED:
        raise PaymentNotAuthorized(payment)
    amount = payment.authorized if amount is None else amount
    _require_payment_currency(payment, amount)
    _require_positive(amount)
    if amount.amount_minor > payment.authorized.amount_minor:
        raise CaptureExceedsAuthorization(payment, amount)
    captured = _next_version(payment, now, status=PaymentStatus.CAPTURED, captured=amount)
    movement = ledger.capture(
        _origin(captured), payment.authorized.amount_minor, amount.amount_minor
    )
    return Captured(captured, movement, amount)


def void(payment: Payment, reason: str, now: datetime) -> Voided | None:
    """Releases an AUTHORIZED payment's hold. None when nothing is held (VOIDED, DECLINED):
    voiding again is how a compensation is retried, so it is not an error."""
    _require_reason(reason)
    if payment.status in {PaymentStatus.VOIDED, PaymentStatus.DECLINED}:
        return None
    if payment.status in CAPTURED_STATUSES:
        raise PaymentAlreadyCaptured(payment)
    voided = _next_version(payment, now, status=PaymentStatus.VOIDED)
    movement = ledger.void(_origin(voided), payment.authorized.amount_minor)
    return Voided(voided, movement, reason)


def refund(payment: Payment, amount: Money | None, reason: str, now: datetime) -> Refunded | None:
    """Gives back `amount` (None: all that remains) of what was captured. None when `amount`
    is None and nothing remains: refunding everything twice is not an error."""
    _require_reason(reason)
    if payment.status not in CAPTURED_STATUSES:
        raise PaymentNotCaptured(payment)
    if amount is None:
        if not payment.refundable.amount_minor:
            return None
        amount = payment.refundable
    _require_payment_currency(payment, amount)
    _require_positive(amount)
    if amount.amount_minor > payment.refundable.amount_minor:
        raise RefundExceedsCapture(payment, amount)
    refunded = payment.refunded + amount
    status = (
        PaymentStatus.REFUNDED if refunded == payment.captured else PaymentStatus.PARTIALLY_REFUNDED
    )
    changed = _next_version(payment, now, status=status, refunded=refunded)
    movement = ledger.refund(_origin(changed), amount.amount_minor)
    return Refunded(changed, movement, amount, reason)


def settle_cancellation(
    payment: Payment, cancellation: OrderCancellation, now: datetime
) -> Voided | Refunded | None:
    """What a cancelled order means for its payment: an authorization is voided; captured
    money is refunded, all that remains but never more than the order's total in all; a
    payment with nothing held or left (DECLINED, VOIDED, REFUNDED) is left alone."""
    if payment.order_id != cancellation.order_id:
        raise PaymentOrderMismatch(payment, cancellation.order_id)
    reason = cancellation_reason(cancellation)
    if payment.status is PaymentStatus.AUTHORIZED:
        return void(payment, reason, now)
    if payment.status not in {PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED}:
        return None
    _require_payment_currency(payment, cancellation.total)
    left_of_total = max(0, cancellation.total.amount_minor - payment.refunded.amount_minor)
    amount = min(payment.refundable.amount_minor, left_of_total)
    if not amount:
        return None
    return refund(payment, Money(payment.currency, amount), reason, now)


def cancellation_reason(cancellation: OrderCancellation) -> str:
    said = f"order cancelled: {cancellation.reason}" if cancellation.reason else "order cancelled"
    return said[:MAX_REASON_LENGTH]


def _require_payment_currency(payment: Payment, amount: Money) -> None:
    if amount.currency != payment.currency:
        raise CurrencyMismatch(payment, amount)


def _origin(changed: Payment) -> ledger.Origin:
    """The movement of the transition that made this version of the payment."""
    return ledger.Origin(changed.payment_id, changed.version, changed.currency, changed.updated_at)


def _next_version(payment: Payment, now: datetime, **changes: object) -> Payment:
    return replace(payment, **changes, updated_at=now, version=payment.version + 1)  # type: ignore[arg-type]
