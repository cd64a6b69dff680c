"""Inventory's model: a stock level per SKU, and the reservations that hold stock for orders.

A reservation is the order saga's TCC participant: `reserve` is the Try, `confirm` the
Confirm, `release` the Cancel, and `expire` ends what nobody settled in time. PENDING is the
only status that holds stock; the other three are final, and each is reached exactly once.

An order's cancellation (orders' OrderCancelled, choreographed) is `settle_cancellation`:
a PENDING reservation is released, a CONFIRMED one is restocked (its units back on hand,
one adjustment per line, at most once per reservation; it stays CONFIRMED), anything else
is left as it is.

Pure: no I/O, no gRPC, no SQL. Every decision is a function from the current state (and
the time, passed in) to the new state and what the events need to know about the change.
The contract validates requests at the edge; the invariants here hold however a value is
made, and breaking one is a bug (InvariantViolated), not a refused request.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chassis.domain import DomainError

SKU_PATTERN = re.compile(r"[A-Z0-9][A-Z0-9-]{2,31}")
MAX_LINES = 50
MAX_REASON_LENGTH = 500


class InvariantViolated(ValueError):
    """A value that must never exist was about to be made. The contract's validation and
    the domain's own checks come first, so reaching this is a bug (INTERNAL)."""


def _check_aware(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise InvariantViolated("a moment without a time zone is ambiguous")


# --- outcomes the contract names (errors.proto) ---------------------------------------------


class StockLevelNotFound(DomainError):
    def __init__(self, sku: str) -> None:
        super().__init__(f"inventory holds no stock level for SKU {sku}", metadata={"sku": sku})


@dataclass(frozen=True)
class Shortage:
    """One line ReserveStock could not hold: a SKU inventory does not know has 0 available."""

    sku: str
    requested: int
    available: int


class InsufficientStock(DomainError):
    """At least one line asks for more than is available; nothing was reserved."""

    def __init__(self, shortages: tuple[Shortage, ...]) -> None:
        skus = ",".join(s.sku for s in shortages)
        super().__init__(f"not enough stock for {skus}", metadata={"skus": skus})
        self.shortages = shortages


class ReservationNotFound(DomainError):
    def __init__(self, reservation_id: str) -> None:
        super().__init__(
            f"no reservation {reservation_id}", metadata={"reservation_id": reservation_id}
        )


class ReservationExpired(DomainError):
    """Confirming a reservation past its expire_time: its stock is no longer held."""

    def __init__(self, reservation_id: str) -> None:
        super().__init__(
            f"reservation {reservation_id} expired", metadata={"reservation_id": reservation_id}
        )


class ReservationAlreadyReleased(DomainError):
    """Confirming a reservation that was released."""

    def __init__(self, reservation_id: str) -> None:
        super().__init__(
            f"reservation {reservation_id} was released",
            metadata={"reservation_id": reservation_id},
        )


class ReservationAlreadyConfirmed(DomainError):
    """Releasing a confirmed reservation: its units already left on_hand."""

    def __init__(self, reservation_id: str) -> None:
        super().__init__(
            f"reservation {reservation_id} was confirmed; its units left stock",
            metadata={"reservation_id": reservation_id},
        )


class ReservationOrderMismatch(DomainError):
    """An OrderCancelled names a reservation held for another order. Never legitimate
    (orders names the reservation it made), and the same on every redelivery: the event
    is left alone and dead-lettered, where someone looks at it. Consumer-only: no gRPC
    call raises it."""

    def __init__(self, reservation_id: str, *, held_for: str, cancelled: str) -> None:
        super().__init__(
            f"reservation {reservation_id} is held for order {held_for}, not for the"
            f" cancelled order {cancelled}",
            metadata={
                "reservation_id": reservation_id,
                "order_id": held_for,
                "cancelled_order_id": cancelled,
            },
        )


class AdjustmentBelowReserved(DomainError):
    """An adjustment would leave on_hand negative or below the reserved units."""

    def __init__(self, sku: str, *, on_hand: int, reserved: int, delta: int) -> None:
        super().__init__(
            f"adjusting {sku} by {delta} would leave {on_hand + delta} on hand"
            f" with {reserved} reserved",
            metadata={"sku": sku, "on_hand": str(on_hand), "reserved": str(reserved)},
        )


# --- stock levels ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StockLevel:
    """The aggregate for one SKU. `reserved` counts the units PENDING reservations hold."""

    sku: str
    on_hand: int
    reserved: int
    low_stock_threshold: int | None  # None: no StockLow alerts for this SKU
    version: int
    updated_at: datetime

    def __post_init__(self) -> None:
        if not SKU_PATTERN.fullmatch(self.sku):
            raise InvariantViolated(f"malformed SKU {self.sku!r}")
        if not 0 <= self.reserved <= self.on_hand:
            raise InvariantViolated(
                f"{self.sku}: reserved {self.reserved} must be within 0..on_hand {self.on_hand}"
            )
        if self.low_stock_threshold is not None and self.low_stock_threshold < 0:
            raise InvariantViolated(f"{self.sku}: a low-stock threshold is never negative")
        if self.version < 1:
            raise InvariantViolated(f"{self.sku}: versions start at 1")
        _check_aware(self.updated_at)

    @property
    def available(self) -> int:
        """What can still be reserved."""
        return self.on_hand - self.reserved

    def _changed(self, *, on_hand: int, reserved: int, now: datetime) -> StockLevel:
        return replace(
            self, on_hand=on_hand, reserved=reserved, version=self.version + 1, updated_at=now
        )


def ran_low(before: StockLevel, after: StockLevel) -> bool:
    """Whether this change took `available` from above the threshold to at or below it:
    StockLow is published once per crossing, not on every change below it."""
    threshold = after.low_stock_threshold
    return threshold is not None and before.available > threshold >= after.available


@dataclass(frozen=True)
class Adjustment:
    """Units received or removed (a delivery, a stocktake, damage), and why."""

    sku: str
    delta: int
    reason: str

    def __post_init__(self) -> None:
        if not SKU_PATTERN.fullmatch(self.sku):
            raise InvariantViolated(f"malformed SKU {self.sku!r}")
        if self.delta == 0:
            raise InvariantViolated("an adjustment changes on_hand")
        if not 1 <= len(self.reason) <= MAX_REASON_LENGTH:
            raise InvariantViolated(f"an adjustment's reason is 1 to {MAX_REASON_LENGTH} chars")


@dataclass(frozen=True)
class Adjusted:
    level: StockLevel
    ran_low: bool


def adjust(existing: StockLevel | None, adjustment: Adjustment, now: datetime) -> Adjusted:
    """Adds or removes units on hand; the first positive adjustment of a SKU creates its
    stock level. A SKU without a level counts as 0 on hand, so removing from it is refused
    like any other adjustment below what is reserved."""
    on_hand = existing.on_hand if existing else 0
    reserved = existing.reserved if existing else 0
    if on_hand + adjustment.delta < reserved:
        raise AdjustmentBelowReserved(
            adjustment.sku, on_hand=on_hand, reserved=reserved, delta=adjustment.delta
        )
    if existing is None:
        level = StockLevel(adjustment.sku, adjustment.delta, 0, None, version=1, updated_at=now)
        return Adjusted(level, ran_low=False)
    level = existing._changed(on_hand=on_hand + adjustment.delta, reserved=reserved, now=now)
    return Adjusted(level, ran_low(existing, level))


@dataclass(frozen=True)
class OpeningStock:
    """A SKU's starting stock and its low-stock threshold (operations configuration)."""

    sku: str
    on_hand: int
    low_stock_threshold: int | None

    def __post_init__(self) -> None:
        if not SKU_PATTERN.fullmatch(self.sku):
            raise InvariantViolated(f"malformed SKU {self.sku!r}")
        if self.on_hand < 0:
            raise InvariantViolated(f"{self.sku}: opening stock is never negative")


def open_stock(existing: StockLevel | None, opening: OpeningStock, now: datetime) -> StockLevel:
    """A new SKU starts with its opening stock. An existing one keeps its on_hand (stock
    that exists has moved since; only adjustments change it) and takes the threshold."""
    if existing is None:
        return StockLevel(
            opening.sku, opening.on_hand, 0, opening.low_stock_threshold, 1, updated_at=now
        )
    if existing.low_stock_threshold == opening.low_stock_threshold:
        return existing
    return replace(
        existing,
        low_stock_threshold=opening.low_stock_threshold,
        version=existing.version + 1,
        updated_at=now,
    )


# --- reservations ---------------------------------------------------------------------------


class ReservationStatus(enum.Enum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    RELEASED = "RELEASED"
    EXPIRED = "EXPIRED"


class ReleaseCause(enum.Enum):
    """Who released a PENDING reservation (ReservationReleased's reason says so)."""

    SAGA_COMPENSATION = "SAGA_COMPENSATION"  # the order saga's ReleaseReservation
    ORDER_CANCELLED = "ORDER_CANCELLED"  # orders' OrderCancelled


@dataclass(frozen=True)
class ReservationLine:
    sku: str
    quantity: int

    def __post_init__(self) -> None:
        if not SKU_PATTERN.fullmatch(self.sku):
            raise InvariantViolated(f"malformed SKU {self.sku!r}")
        if self.quantity < 1:
            raise InvariantViolated(f"{self.sku}: a line holds at least one unit")


def _check_lines(lines: tuple[ReservationLine, ...]) -> None:
    if not 1 <= len(lines) <= MAX_LINES:
        raise InvariantViolated(f"a reservation has 1 to {MAX_LINES} lines")
    if len({line.sku for line in lines}) != len(lines):
        raise InvariantViolated("each SKU appears in one line only")


@dataclass(frozen=True)
class ReservationRequest:
    """What ReserveStock asks for; also the request an idempotency key is bound to."""

    order_id: str
    lines: tuple[ReservationLine, ...]
    ttl_seconds: float | None  # None: the service's configured default

    def __post_init__(self) -> None:
        _check_lines(self.lines)
        if self.ttl_seconds is not None and self.ttl_seconds <= 0:
            raise InvariantViolated("a reservation is held for a positive time")


@dataclass(frozen=True)
class Reservation:
    """The aggregate: stock held for one order, all lines or none."""

    reservation_id: str
    order_id: str
    lines: tuple[ReservationLine, ...]
    status: ReservationStatus
    expire_time: datetime
    created_at: datetime
    updated_at: datetime
    version: int

    def __post_init__(self) -> None:
        _check_lines(self.lines)
        if self.version < 1:
            raise InvariantViolated(f"reservation {self.reservation_id}: versions start at 1")
        for moment in (self.expire_time, self.created_at, self.updated_at):
            _check_aware(moment)

    def is_due(self, now: datetime) -> bool:
        """Past its expire_time: it no longer holds stock, whether or not the sweeper has
        marked it EXPIRED yet."""
        return now >= self.expire_time

    def _ended(self, status: ReservationStatus, now: datetime) -> Reservation:
        return replace(self, status=status, version=self.version + 1, updated_at=now)


@dataclass(frozen=True)
class ReservationChange:
    """A reservation after a command, with the stock levels that changed with it."""

    reservation: Reservation
    levels: tuple[StockLevel, ...]  # empty when the command found nothing to change
    low: tuple[StockLevel, ...] = ()  # levels whose available crossed their threshold
    detail: str = ""  # the caller's words, for a release
    cause: ReleaseCause | None = None  # who released it (status RELEASED only)

    @property
    def changed(self) -> bool:
        return bool(self.levels)


def reserve(
    levels: Mapping[str, StockLevel],
    request: ReservationRequest,
    *,
    reservation_id: str,
    ttl: timedelta,
    now: datetime,
) -> ReservationChange:
    """Holds every line, or raises InsufficientStock naming each short SKU. `levels` are
    the current levels of the request's SKUs; a SKU missing from it has 0 available."""
    shortages = tuple(
        Shortage(line.sku, line.quantity, levels[line.sku].available if line.sku in levels else 0)
        for line in request.lines
        if line.sku not in levels or levels[line.sku].available < line.quantity
    )
    if shortages:
        raise InsufficientStock(shortages)
    before = [levels[line.sku] for line in request.lines]
    after = [
        level._changed(on_hand=level.on_hand, reserved=level.reserved + line.quantity, now=now)
        for level, line in zip(before, request.lines, strict=True)
    ]
    reservation = Reservation(
        reservation_id=reservation_id,
        order_id=request.order_id,
        lines=request.lines,
        status=ReservationStatus.PENDING,
        expire_time=now + ttl,
        created_at=now,
        updated_at=now,
        version=1,
    )
    low = tuple(a for b, a in zip(before, after, strict=True) if ran_low(b, a))
    return ReservationChange(reservation, tuple(after), low)


def confirm(
    reservation: Reservation, levels: Mapping[str, StockLevel], now: datetime
) -> ReservationChange:
    """The order went through: the held units leave on_hand and reserved. Confirming a
    CONFIRMED reservation changes nothing; an ended or overdue one cannot be confirmed."""
    match reservation.status:
        case ReservationStatus.CONFIRMED:
            return ReservationChange(reservation, ())
        case ReservationStatus.RELEASED:
            raise ReservationAlreadyReleased(reservation.reservation_id)
        case ReservationStatus.EXPIRED:
            raise ReservationExpired(reservation.reservation_id)
    if reservation.is_due(now):
        # Overdue but not swept yet: refused all the same, the sweeper returns its stock.
        raise ReservationExpired(reservation.reservation_id)
    changed = _move(reservation, levels, now, shipped=True)
    return ReservationChange(reservation._ended(ReservationStatus.CONFIRMED, now), changed)


def release(
    reservation: Reservation,
    levels: Mapping[str, StockLevel],
    detail: str,
    now: datetime,
    *,
    cause: ReleaseCause = ReleaseCause.SAGA_COMPENSATION,
) -> ReservationChange:
    """The saga compensates (or the order was cancelled): the held units are available
    again. Releasing an ended reservation changes nothing, so compensation can always be
    retried; an overdue one is expired instead (it had expired before the call); a
    confirmed one cannot be released."""
    match reservation.status:
        case ReservationStatus.RELEASED | ReservationStatus.EXPIRED:
            return ReservationChange(reservation, ())
        case ReservationStatus.CONFIRMED:
            raise ReservationAlreadyConfirmed(reservation.reservation_id)
    if reservation.is_due(now):
        return expire(reservation, levels, now)
    changed = _move(reservation, levels, now, shipped=False)
    return ReservationChange(
        reservation._ended(ReservationStatus.RELEASED, now), changed, detail=detail, cause=cause
    )


def expire(
    reservation: Reservation, levels: Mapping[str, StockLevel], now: datetime
) -> ReservationChange:
    """Nobody settled it before expire_time: the held units are available again. Anything
    else (not PENDING, not due yet) is left as it is."""
    if reservation.status is not ReservationStatus.PENDING or not reservation.is_due(now):
        return ReservationChange(reservation, ())
    changed = _move(reservation, levels, now, shipped=False)
    return ReservationChange(reservation._ended(ReservationStatus.EXPIRED, now), changed)


def _move(
    reservation: Reservation, levels: Mapping[str, StockLevel], now: datetime, *, shipped: bool
) -> tuple[StockLevel, ...]:
    """The levels after a PENDING reservation stops holding its units: they leave on_hand
    too when shipped (confirmed), else they are available again."""
    moved = []
    for line in reservation.lines:
        level = levels.get(line.sku)
        if level is None:
            raise InvariantViolated(f"{line.sku} is reserved but has no stock level")
        on_hand = level.on_hand - line.quantity if shipped else level.on_hand
        moved.append(
            level._changed(on_hand=on_hand, reserved=level.reserved - line.quantity, now=now)
        )
    return tuple(moved)


# --- an order's cancellation (orders' OrderCancelled) ---------------------------------------


@dataclass(frozen=True)
class OrderCancellation:
    """What inventory acts on of an OrderCancelled (also the request its delivery's
    idempotency key is bound to). The event's own lines are the order's; what goes back
    is what the reservation held or took, so they are not needed here."""

    order_id: str
    reservation_id: str | None  # None: the order saga had made none (as far as orders knew)
    reason: str  # the customer's words; may be empty

    @property
    def detail(self) -> str:
        """What ReservationReleased says, within the contract's 500 characters (the
        customer's words alone may be that long)."""
        text = f"order cancelled: {self.reason}" if self.reason else "order cancelled"
        return text[:MAX_REASON_LENGTH]

    def restock_reason(self, reservation_id: str) -> str:
        """The stock_adjustments reason of a restock: the order, then the reservation."""
        return (
            f"restock: order {self.order_id} cancelled after its reservation"
            f" {reservation_id} was confirmed"
        )


class CancellationEffect(enum.Enum):
    """What an order's cancellation did to its reservation."""

    RELEASED = "RELEASED"  # PENDING: released, its units available again
    EXPIRED = "EXPIRED"  # PENDING but overdue: expired (as ReleaseReservation does)
    RESTOCKED = "RESTOCKED"  # CONFIRMED: its units back on hand, one adjustment per line
    ALREADY_ENDED = "ALREADY_ENDED"  # RELEASED or EXPIRED before: it holds nothing
    ALREADY_RESTOCKED = "ALREADY_RESTOCKED"  # CONFIRMED and restocked before (another event)
    NONE_MADE = "NONE_MADE"  # the event names no reservation
    UNKNOWN = "UNKNOWN"  # inventory has no reservation with the named id

    @property
    def changed(self) -> bool:
        """Whether stock moved (the rest are the legitimate no-ops)."""
        return self in _CHANGING_EFFECTS


_CHANGING_EFFECTS = frozenset(
    {CancellationEffect.RELEASED, CancellationEffect.EXPIRED, CancellationEffect.RESTOCKED}
)


@dataclass(frozen=True)
class Restock:
    """One line of a confirmed reservation back on hand: the stock level after, and the
    adjustment that explains it."""

    level: StockLevel
    adjustment: Adjustment


@dataclass(frozen=True)
class CancellationChange:
    effect: CancellationEffect
    reservation: Reservation | None  # after the change; None for NONE_MADE and UNKNOWN
    released: ReservationChange | None = None  # RELEASED or EXPIRED: to save and publish
    restocks: tuple[Restock, ...] = ()  # RESTOCKED: to save and record, one per line


def settle_cancellation(
    cancellation: OrderCancellation,
    reservation: Reservation | None,
    levels: Mapping[str, StockLevel],
    *,
    restocked: bool,
    now: datetime,
) -> CancellationChange:
    """What a cancelled order does to its reservation. `reservation` is the one the event
    names (None: it names none, or inventory does not know it), `levels` its SKUs' levels
    while it is PENDING or CONFIRMED, `restocked` whether a cancellation already put a
    CONFIRMED one back on hand.

    Never refuses what can legitimately happen (a consumer must not dead-letter a no-op):
    a reservation already released by the saga or expired holds nothing, so nothing is
    done. Only a reservation of another order is refused (ReservationOrderMismatch)."""
    if reservation is None:
        effect = CancellationEffect.NONE_MADE
        if cancellation.reservation_id is not None:
            effect = CancellationEffect.UNKNOWN
        return CancellationChange(effect, None)
    if reservation.order_id != cancellation.order_id:
        raise ReservationOrderMismatch(
            reservation.reservation_id,
            held_for=reservation.order_id,
            cancelled=cancellation.order_id,
        )
    match reservation.status:
        case ReservationStatus.RELEASED | ReservationStatus.EXPIRED:
            return CancellationChange(CancellationEffect.ALREADY_ENDED, reservation)
        case ReservationStatus.CONFIRMED if restocked:
            return CancellationChange(CancellationEffect.ALREADY_RESTOCKED, reservation)
        case ReservationStatus.CONFIRMED:
            reason = cancellation.restock_reason(reservation.reservation_id)
            restocks = restock(reservation, levels, reason, now)
            return CancellationChange(CancellationEffect.RESTOCKED, reservation, restocks=restocks)
    released = release(
        reservation, levels, cancellation.detail, now, cause=ReleaseCause.ORDER_CANCELLED
    )
    effect = (
        CancellationEffect.EXPIRED
        if released.reservation.status is ReservationStatus.EXPIRED
        else CancellationEffect.RELEASED
    )
    return CancellationChange(effect, released.reservation, released=released)


def restock(
    reservation: Reservation, levels: Mapping[str, StockLevel], reason: str, now: datetime
) -> tuple[Restock, ...]:
    """A CONFIRMED reservation's units back on hand (its order was cancelled before
    dispatch): one positive adjustment per line, with `reason`. The reservation itself
    stays CONFIRMED: the contract has no status for a restocked one, and the adjustments
    are the record (at most one restock per reservation, see settle_cancellation)."""
    if reservation.status is not ReservationStatus.CONFIRMED:
        raise InvariantViolated(
            f"reservation {reservation.reservation_id} is {reservation.status.value}:"
            " only a confirmed one is restocked"
        )
    restocks = []
    for line in reservation.lines:
        level = levels.get(line.sku)
        if level is None:
            raise InvariantViolated(f"{line.sku} was reserved but has no stock level")
        adjustment = Adjustment(line.sku, line.quantity, reason)
        restocks.append(Restock(adjust(level, adjustment, now).level, adjustment))
    return tuple(restocks)
