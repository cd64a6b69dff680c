"""Orders' use cases, one unit of work each (the saga's steps are in runner.py)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from chassis import page_tokens
from chassis.errors import PeerError
from chassis.page_tokens import InvalidPageToken
from chassis.uow import UnitOfWork, retry_conflicts
from orders import domain, events, saga
from orders.domain import (
    CatalogPrice,
    DestinationNotServed,
    InvalidConsistencyToken,
    Money,
    Order,
    OrderNotFound,
    OrderStatus,
    PlaceOrder,
    Undone,
    UnknownSku,
)
from orders.history import DeliveryFact, Entry, OrderFact, PaymentFact
from orders.metrics import STARTED
from orders.peers import DESTINATION_NOT_SERVED, SHIPPING_UNKNOWN_SKU, Shipping
from orders.repository import Position, Repositories
from orders.saga import Saga

Clock = Callable[[], datetime]
UoW = Callable[[], UnitOfWork[Repositories]]
DEFAULT_PAGE_SIZE = 20
VIEW_WAIT_CAP_S = 3.0  # ListOrders waits at most this long for a consistency token
VIEW_POLL_S = 0.02  # one indexed read of one row per poll
VIEW_RETRY_AFTER_S = 1.0  # the RetryInfo of VIEW_NOT_CAUGHT_UP
ORDER_NAMESPACE = uuid.UUID("8a1b7c2d-3e4f-4a5b-9c6d-7e8f9a0b1c2d")  # fixed forever


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Caller:
    """Who calls: the verified token's subject, and whether it is an admin."""

    subject: str
    admin: bool = False

    def may_see(self, order: Order) -> bool:
        return self.admin or order.customer_id == self.subject


@dataclass(frozen=True)
class Viewed:
    order: Order
    saga: Saga | None


# --- PlaceOrder --------------------------------------------------------------------------


async def place_order(  # noqa: PLR0913 - a command, its key, and what it needs
    unit_of_work: UoW,
    *,
    idempotency_key: str,
    command: PlaceOrder,
    shipping: Shipping,
    clock: Clock = utc_now,
    admit: Callable[[], None] = lambda: None,
) -> Order:
    """Prices the cart from the read model, quotes delivery, and stores the order PENDING
    with its saga, emitting OrderPlaced, in one unit of work. A retry with the same key
    returns the first outcome, even if prices changed since, and even while `admit` (the
    admission control) refuses new orders: the client that lost the answer gets it."""
    async with unit_of_work() as uow:  # a retry answers before anything is priced again
        earlier = await uow.claim(idempotency_key, command, Order)
        if earlier is not None:
            return earlier
    admit()
    async with unit_of_work().read() as uow:
        prices = await uow.repos.prices.get_many([line.sku for line in command.lines])
    lines = domain.price_lines(command.lines, prices, command.currency)
    shipping_cost = await _quote(shipping, command)
    return await _store(unit_of_work, idempotency_key, command, lines, shipping_cost, clock)


async def _quote(shipping: Shipping, command: PlaceOrder) -> Money:
    try:
        options = await shipping.quote(command.address, command.lines, command.currency)
    except PeerError as error:
        if error.reason == DESTINATION_NOT_SERVED:
            raise DestinationNotServed() from error
        if error.reason == SHIPPING_UNKNOWN_SKU:
            raise UnknownSku(error.metadata.get("sku", "")) from error
        raise
    cost = options.get(command.speed)
    if cost is None:
        raise DestinationNotServed(f"no {command.speed.name} delivery to this address")
    return cost


@retry_conflicts
async def _store(  # noqa: PLR0913, PLR0917
    unit_of_work: UoW,
    key: str,
    command: PlaceOrder,
    lines: tuple[domain.OrderLine, ...],
    shipping_cost: Money,
    clock: Clock,
) -> Order:
    now = clock()
    order = Order(
        order_id=str(uuid.uuid5(ORDER_NAMESPACE, f"{command.customer_id}/{key}")),
        customer_id=command.customer_id,
        status=OrderStatus.PENDING,
        lines=lines,
        shipping_cost=shipping_cost,
        address=command.address,
        speed=command.speed,
        created_at=now,
        updated_at=now,
        version=1,
    )
    domain.check_expected_total(order, command.expected_total)
    async with unit_of_work() as uow:
        earlier = await uow.claim(key, command, Order)
        if earlier is not None:
            return earlier
        await uow.repos.orders.add(order)
        await uow.repos.sagas.add(saga.started(order.order_id, command.payment_token, now))
        uow.emit(events.placed(order), order.order_id)
        await uow.commit(order)
    STARTED.inc()
    return order


# --- reads -------------------------------------------------------------------------------


async def get_order(
    unit_of_work: UoW, caller: Caller, order_id: str, consistency_token: str = ""
) -> Viewed:
    """The order and its saga. A consistency token names a version this read must see:
    orders reads its own primary, so every committed version is visible at once."""
    wanted = parse_token(consistency_token, order_id) if consistency_token else 0
    async with unit_of_work().read() as uow:
        order = await uow.repos.orders.get(order_id)
        if order is None or not caller.may_see(order):
            raise OrderNotFound(order_id)
        found = await uow.repos.sagas.get(order_id)
    assert order.version >= wanted  # one primary: a committed write is always visible
    return Viewed(order, found)


@dataclass(frozen=True)
class Page:
    orders: list[Entry]
    next_page_token: str


class ViewNotCaughtUp(Exception):
    """The order history did not show the state a consistency token names in time."""

    def __init__(self, waited_s: float) -> None:
        super().__init__(
            f"the order history has not caught up with the write yet (waited {waited_s:.1f} s);"
            " retry shortly"
        )
        self.retry_after_s = VIEW_RETRY_AFTER_S


async def list_orders(  # noqa: PLR0913
    unit_of_work: UoW,
    caller: Caller,
    *,
    status: OrderStatus | None,
    page_size: int,
    page_token: str,
    consistency_token: str = "",
    wait_s: float = VIEW_WAIT_CAP_S,
) -> Page:
    """The caller's orders (an admin's: everyone's), newest first, from the order history.
    With a consistency token, first waits (at most `wait_s`) until the history shows the
    version it names of that order, if it is the caller's: ViewNotCaughtUp otherwise."""
    size = page_size or DEFAULT_PAGE_SIZE
    scope = "*" if caller.admin else caller.subject
    after = _decode_page(page_token, scope, status)
    customer = None if caller.admin else caller.subject
    if consistency_token:
        order_id, version = read_token(consistency_token)
        await _wait_for_history(unit_of_work, order_id, version, customer, wait_s)
    async with unit_of_work().read() as uow:
        found = await uow.repos.history.page(customer, status=status, after=after, limit=size + 1)
    page = found[:size]
    if len(found) <= size:
        return Page(page, "")
    last = page[-1]
    return Page(page, _encode_page(Position(last.created_at, last.order_id), scope, status))


async def _wait_for_history(
    unit_of_work: UoW, order_id: str, version: int, customer: str | None, wait_s: float
) -> None:
    """Polls one indexed row until the history shows `version` of the order (cheaper on
    a busy database than a LISTEN connection per waiting call, and bounded by `wait_s`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(0.0, wait_s)
    while True:
        async with unit_of_work().read() as uow:
            if await uow.repos.history.version_of(order_id, customer) >= version:
                return
        if loop.time() + VIEW_POLL_S > deadline:
            raise ViewNotCaughtUp(max(0.0, wait_s))
        await asyncio.sleep(VIEW_POLL_S)


def _encode_page(position: Position, scope: str, status: OrderStatus | None) -> str:
    at = {"t": position.created_at.isoformat(), "id": position.order_id}
    return page_tokens.encode(at, (scope, int(status or 0)))


def _decode_page(token: str, scope: str, status: OrderStatus | None) -> Position | None:
    payload = page_tokens.decode(token, (scope, int(status or 0)))
    if payload is None:
        return None
    try:
        position = Position(datetime.fromisoformat(str(payload["t"])), str(payload["id"]))
    except (ValueError, KeyError) as error:
        raise InvalidPageToken("malformed page token") from error
    if position.created_at.tzinfo is None:
        raise InvalidPageToken("malformed page token")
    return position


def consistency_token(order: Order) -> str:
    raw = json.dumps({"o": order.order_id, "v": order.version}).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def read_token(token: str) -> tuple[str, int]:
    """The (order id, version) a consistency token names; InvalidConsistencyToken."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        issued_for, version = payload["o"], payload["v"]
    except (binascii.Error, ValueError, TypeError, KeyError) as error:
        raise InvalidConsistencyToken() from error
    if not isinstance(issued_for, str) or not isinstance(version, int):
        raise InvalidConsistencyToken()
    return issued_for, version


def parse_token(token: str, order_id: str) -> int:
    issued_for, version = read_token(token)
    if issued_for != order_id:
        raise InvalidConsistencyToken()
    return version


# --- CancelOrder -------------------------------------------------------------------------


@dataclass(frozen=True)
class CancelRequest:
    order_id: str
    reason: str
    caller: Caller


@retry_conflicts
async def cancel_order(
    unit_of_work: UoW,
    *,
    idempotency_key: str,
    request: CancelRequest,
    shipping: Shipping,
    clock: Clock = utc_now,
) -> Order:
    """A CONFIRMED order not yet dispatched becomes CANCELLING, and OrderCancelled is
    published for payments, inventory and shipping to undo their part on their own
    (record_undone collects what they did). A PENDING order's cancel is queued on its
    saga (saga.request_cancel), which honours it before its next step; the order comes
    back as it is. A CANCELLING or CANCELLED one comes back unchanged.

    Locks the saga, then the order, as the runner does (no deadlock with it)."""
    async with unit_of_work() as uow:
        earlier = await uow.claim(idempotency_key, request, Order)
        if earlier is not None:
            return earlier
        current = await uow.repos.sagas.lock(request.order_id)
        order = await uow.repos.orders.lock(request.order_id)
        if order is None or not request.caller.may_see(order):
            raise OrderNotFound(request.order_id)
        if order.status is OrderStatus.PENDING and current is not None:
            queued = saga.request_cancel(current, request.reason, clock())
            if queued is not current:
                await uow.repos.sagas.save(queued)
            await uow.commit(order)
            return order
        dispatched = False
        if order.status is OrderStatus.CONFIRMED and order.shipment_id:
            dispatched = (await shipping.shipment(order.shipment_id)).dispatched
        changed = domain.cancel(order, reason=request.reason, dispatched=dispatched, now=clock())
        if changed is not order:
            await uow.repos.orders.save(changed)
            uow.emit(events.cancelled(changed), changed.order_id)
        await uow.commit(changed)
    return changed


# --- consumed events: a cancellation's outcomes, and the order history ---------------------


@retry_conflicts
async def on_order_event(unit_of_work: UoW, *, event_key: str, fact: OrderFact) -> None:
    """One of orders' own events into the order history."""
    async with unit_of_work() as uow:
        if await uow.claim(event_key, fact, bool) is not None:
            return
        await uow.repos.history.apply_order(fact)
        await uow.commit(True)


@retry_conflicts
async def on_payment_event(
    unit_of_work: UoW,
    *,
    event_key: str,
    fact: PaymentFact,
    undone: tuple[Undone, int] | None,
    clock: Clock = utc_now,
) -> None:
    """A payments event into the order history and, if it is a cancellation's outcome
    (a refund or a void), onto the order."""
    async with unit_of_work() as uow:
        if await uow.claim(event_key, fact, bool) is not None:
            return
        await uow.repos.history.apply_payment(fact)
        if undone is not None:
            await _record_undone(uow, fact.order_id, undone[0], undone[1], clock())
        await uow.commit(True)


@retry_conflicts
async def on_shipment_event(
    unit_of_work: UoW, *, event_key: str, fact: DeliveryFact, clock: Clock = utc_now
) -> None:
    """A shipping event into the order history and, if it is a cancelled shipment, onto
    the order (one of a cancellation's outcomes)."""
    async with unit_of_work() as uow:
        if await uow.claim(event_key, fact, bool) is not None:
            return
        await uow.repos.history.apply_delivery(fact)
        if fact.status is domain.DeliveryStatus.CANCELLED:
            await _record_undone(uow, fact.order_id, Undone.SHIPMENT_CANCELLED, 0, clock())
        await uow.commit(True)


@retry_conflicts
async def on_restocked(
    unit_of_work: UoW, *, event_key: str, order_id: str, clock: Clock = utc_now
) -> None:
    """Inventory's ReservationRestocked: one of a cancellation's outcomes."""
    async with unit_of_work() as uow:
        if await uow.claim(event_key, order_id, bool) is not None:
            return
        await _record_undone(uow, order_id, Undone.STOCK_RESTOCKED, 0, clock())
        await uow.commit(True)


async def _record_undone(
    uow: UnitOfWork[Repositories], order_id: str, undone: Undone, refunded: int, now: datetime
) -> None:
    """Records the outcome on a CANCELLING order; the last of the three makes it
    CANCELLED (OrderCancellationCompleted). Anything else is no cancellation orders waits
    for (an unknown order, a saga's compensation, an outcome heard before): nothing."""
    order = await uow.repos.orders.lock(order_id)
    if order is None:
        return
    changed = domain.record_undone(order, undone, refunded, now)
    if changed is order:
        return
    await uow.repos.orders.save(changed)
    if changed.status is OrderStatus.CANCELLED:
        uow.emit(events.cancellation_completed(changed), order_id)


# --- the price read model ----------------------------------------------------------------


async def project_product(unit_of_work: UoW, *, event_key: str, price: CatalogPrice) -> None:
    async with unit_of_work() as uow:
        if await uow.claim(event_key, price, bool) is not None:
            return
        await uow.repos.prices.upsert(price)
        await uow.commit(True)


async def project_price_change(
    unit_of_work: UoW, *, event_key: str, sku: str, price: Money, version: int
) -> None:
    async with unit_of_work() as uow:
        if await uow.claim(event_key, (sku, price, version), bool) is not None:
            return
        await uow.repos.prices.change_price(sku, price, version)
        await uow.commit(True)
