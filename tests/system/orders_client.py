"""Orders on a whole stack, as the system tests drive and check them: customers and an
administrator through the gateway (HTTP/JSON with the stack's own JWTs), each service's
database read as the Postgres superuser for what no API lists (every payment, every
reservation, every shipment), and processes killed the way a crash kills them. Beside it:
the invariants (orders_books), holding a saga inside a step (orders_gates), events
published again (orders_events).

Every wait polls with a generous limit and fails naming the last state it saw: a loaded
machine is slower, never wrong.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import psycopg

from shoptools.mesh.jwt import mint_token
from shoptools.stack import runfile, smtp_sink
from shoptools.stack.smtp_sink import SunkMail

from .harness import Stack

T = TypeVar("T")
Json = dict[str, Any]

WAIT_S = 90.0
POLL_S = 0.2
CONFIRMED, REJECTED = "ORDER_STATUS_CONFIRMED", "ORDER_STATUS_REJECTED"
CANCELLING, CANCELLED = "ORDER_STATUS_CANCELLING", "ORDER_STATUS_CANCELLED"
PENDING = "ORDER_STATUS_PENDING"
FINAL = frozenset({CONFIRMED, REJECTED, CANCELLED})
BERLIN = {
    "recipient": "Alice Example",
    "lines": ["Hauptstr. 1"],
    "locality": "Berlin",
    "postalCode": "10115",
    "countryCode": "DE",
}


def poll(
    fetch: Callable[[], T], done: Callable[[T], bool], what: str, timeout_s: float = WAIT_S
) -> T:
    """`fetch()` until `done` holds for its value, which is returned; a TimeoutError names
    the last value seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = fetch()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout_s:.0f} s: {what}; last seen: {value!r}")
        time.sleep(POLL_S)


def minor(money: Json) -> int:
    return int(money.get("amount_minor", 0))


def steps(order: Json) -> list[tuple[str, str, int]]:
    """The saga timeline as (kind, state, attempts), kind and state without their prefixes."""
    return [
        (
            step["kind"].removeprefix("SAGA_STEP_KIND_"),
            step["state"].removeprefix("SAGA_STEP_STATE_"),
            int(step.get("attempts", 0)),
        )
        for step in order.get("saga_steps", [])
    ]


def summary(order: Json) -> str:
    """An order as a failure message shows it: status, reason and timeline."""
    timeline = ", ".join(f"{kind}={state}x{attempts}" for kind, state, attempts in steps(order))
    reason = order.get("rejection_reason", "")
    return f"{order.get('status')} {reason} [{timeline}] {order.get('rejection_detail', '')}"


@dataclass
class Placed:
    order: Json
    consistency_token: str
    customer: str

    @property
    def order_id(self) -> str:
        return str(self.order["order_id"])


@dataclass
class Shop:
    """One stack's shop, for tests."""

    stack: Stack
    _tokens: dict[str, str] = field(default_factory=dict)

    # --- the gateway -------------------------------------------------------------------
    def token(self, customer: str | None) -> str:
        """A customer's JWT, or the administrator's (None), minted with the stack's key."""
        name = customer or ""
        if name not in self._tokens:
            pki = self.stack.topology.pki_dir
            ttl = datetime.timedelta(hours=2)
            self._tokens[name] = (
                mint_token(pki, customer, "customer", ttl)
                if customer
                else mint_token(pki, "admin", "admin", ttl)
            )
        return self._tokens[name]

    def call(
        self, method: str, path: str, customer: str | None, body: Json | None = None
    ) -> httpx.Response:
        return httpx.request(
            method,
            f"{self.stack.gateway}{path}",
            json=body,
            headers={"authorization": f"Bearer {self.token(customer)}"},
            timeout=60,
        )

    def ok(self, method: str, path: str, customer: str | None, body: Json | None = None) -> Json:
        reply = self.call(method, path, customer, body)
        assert reply.status_code == 200, f"{method} {path}: {reply.status_code} {reply.text}"
        answer: Json = reply.json()
        return answer

    def place_request(
        self,
        lines: dict[str, int],
        *,
        payment_token: str = "tok_visa",
        key: str | None = None,
        address: Json | None = None,
    ) -> Json:
        return {
            "idempotencyKey": key or str(uuid.uuid4()),
            "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines.items()],
            "shippingAddress": address or BERLIN,
            "shippingSpeed": "SHIPPING_SPEED_STANDARD",
            "currencyCode": "EUR",
            "paymentToken": payment_token,
        }

    def place(self, customer: str, request: Json) -> Placed:
        answer = self.ok("POST", "/v1/orders", customer, request)
        return Placed(answer["order"], str(answer["consistency_token"]), customer)

    def place_order(self, customer: str, lines: dict[str, int], **options: Any) -> Placed:
        return self.place(customer, self.place_request(lines, **options))

    def order(self, customer: str | None, order_id: str, consistency_token: str = "") -> Json:
        query = f"?consistencyToken={consistency_token}" if consistency_token else ""
        answer = self.ok("GET", f"/v1/orders/{order_id}{query}", customer)
        order: Json = answer["order"]
        return order

    def cancel(self, customer: str, order_id: str, reason: str = "changed my mind") -> Json:
        body = {"idempotencyKey": str(uuid.uuid4()), "reason": reason}
        order: Json = self.ok("POST", f"/v1/orders/{order_id}:cancel", customer, body)["order"]
        return order

    def wait_for(
        self, placed: Placed, statuses: frozenset[str] = FINAL, timeout_s: float = WAIT_S
    ) -> Json:
        """The order once its status is one of `statuses` (by default: final)."""
        return poll(
            lambda: self.order(placed.customer, placed.order_id),
            lambda order: order["status"] in statuses,
            f"order {placed.order_id} in {sorted(statuses)}",
            timeout_s,
        )

    def wait_for_step(self, placed: Placed, kind: str, state: str = "RUNNING") -> Json:
        """The order once its saga timeline shows step `kind` (e.g. "CAPTURE_PAYMENT") in
        `state`."""
        return poll(
            lambda: self.order(placed.customer, placed.order_id),
            lambda order: any(k == kind and s == state for k, s, _ in steps(order)),
            f"order {placed.order_id}'s step {kind} {state}",
        )

    def payment(self, payment_id: str) -> Json:
        payment: Json = self.ok("GET", f"/admin/v1/payments/{payment_id}", None)["payment"]
        return payment

    def shipment(self, shipment_id: str) -> Json:
        shipment: Json = self.ok("GET", f"/admin/v1/shipments/{shipment_id}", None)["shipment"]
        return shipment

    def stock(self, sku: str) -> Json:
        level: Json = self.ok("GET", f"/v1/stock/{sku}", None)["stock_level"]
        return level

    def adjust_stock(self, sku: str, delta: int, reason: str) -> Json:
        body = {"idempotencyKey": str(uuid.uuid4()), "delta": delta, "reason": reason}
        level: Json = self.ok("POST", f"/admin/v1/stock/{sku}:adjust", None, body)["stock_level"]
        return level

    def set_available(self, sku: str, available: int) -> None:
        """Adjust on_hand so that exactly `available` units of `sku` can be reserved."""
        delta = available - int(self.stock(sku).get("available", 0))
        if delta:
            self.adjust_stock(sku, delta, "system test: stock set for a scenario")

    def receive_mail_for(self, customer: str) -> str:
        """Give `customer` an email address with email on, as they would in their settings."""
        address = f"{customer}@example.com"
        body = {
            "idempotencyKey": str(uuid.uuid4()),
            "preferences": {"emailEnabled": True, "email": address},
        }
        self.ok("PUT", "/v1/notification-preferences", customer, body)
        return address

    def mail_to(self, address: str) -> list[SunkMail]:
        return smtp_sink.Mailbox(self.stack.topology.mail_dir).messages(to=address)

    # --- the databases, as the superuser -------------------------------------------------
    @contextlib.contextmanager
    def database(self, name: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        topology = self.stack.topology
        with psycopg.connect(
            host=str(topology.postgres_dir),
            port=topology.postgres_port,
            user="postgres",
            dbname=name,
            autocommit=True,
        ) as conn:
            yield conn

    def rows(self, database: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with self.database(database) as conn:
            return conn.execute(sql, params).fetchall()

    # --- processes ---------------------------------------------------------------------
    def component(self, name: str) -> runfile.Component:
        state = runfile.load(self.stack.topology.run_file)
        assert state is not None, "the stack's run file is gone"
        return state.component(name)

    def kill(self, name: str) -> int:
        """SIGKILL a component of the stack (e.g. "orders-1", "nats"), as a crash would;
        its pid."""
        pid = self.component(name).pid
        assert pid is not None, f"{name} is not running"
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_restarted(self, name: str, killed_pid: int) -> None:
        """Until the supervisor has `name` healthy again under a new pid."""
        poll(
            lambda: self.component(name),
            lambda c: c.state == runfile.HEALTHY and c.pid not in (None, killed_pid),
            f"{name} restarted by the supervisor",
        )


def audited_types(shop: Shop, order_id: str) -> list[str]:
    """The event types the audit log recorded for the order's aggregate, oldest first
    (`shop audit list`)."""
    listed = shop.stack.shop("audit", "list", "--aggregate", f"orders/{order_id}", "-n", "100")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    return [line.split()[2] for line in listed.stdout.splitlines()[1:] if line.strip()]
