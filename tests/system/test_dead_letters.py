"""Dead letters on the running stack: a message no consumer can decode lands in the
DEADLETTER stream once per subscription that received it, with the reason, while the
consumers go on; `shop dlq list` shows them and `shop dlq redrive` publishes one
subscription's again on its original subject."""

from __future__ import annotations

import asyncio
import json

from shoptools.stack import nats as stack_nats

from .harness import Stack, wait_until

SUBJECT = "orders.order.cancelled"  # payments, inventory and shipping consume it (and audit)
POISON = b"\xff not an event envelope"


async def publish_poison(stack: Stack) -> None:
    client = await stack_nats.connect(stack.topology)  # as the admin: orders does not run
    try:
        await client.jetstream().publish(SUBJECT, POISON)
    finally:
        await client.close()


def dead_letters(stack: Stack) -> list[dict[str, object]]:
    listed = stack.shop("dlq", "list", "--json")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    letters: list[dict[str, object]] = json.loads(listed.stdout)
    return [letter for letter in letters if letter["subject"] == SUBJECT]


def by_subscription(stack: Stack) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for letter in dead_letters(stack):
        found.setdefault(str(letter["subscription"]), []).append(int(str(letter["sequence"])))
    return found


PAYMENTS = "payments-order-cancelled"
CONSUMERS = {PAYMENTS, "inventory-order-cancelled", "shipping-order-cancelled"}


def test_a_poison_message_is_dead_lettered_per_subscription_and_can_be_redriven(
    stack: Stack,
) -> None:
    asyncio.run(publish_poison(stack))
    wait_until(lambda: set(by_subscription(stack)) >= CONSUMERS, "a dead letter per consumer")
    before = by_subscription(stack)
    reasons = {str(letter["reason"]) for letter in dead_letters(stack)}

    redriven = stack.shop("dlq", "redrive", "--subscription", "payments-order-cancelled")
    assert redriven.returncode == 0, redriven.stdout + redriven.stderr

    # Republished on its subject, every consumer gets it again: still poison, so each
    # dead-letters it again; payments' first letter is gone from the stream.
    def dead_lettered_again() -> bool:
        now = by_subscription(stack)
        others = all(len(now.get(name, [])) > len(before[name]) for name in CONSUMERS - {PAYMENTS})
        return others and bool(now.get(PAYMENTS)) and now[PAYMENTS] != before[PAYMENTS]

    wait_until(dead_lettered_again, "the redriven message dead-lettered again by every consumer")
    after = by_subscription(stack)

    assert all(reason.startswith("not an EventEnvelope") for reason in reasons)
    assert before[PAYMENTS][0] not in after[PAYMENTS]  # redriven: gone from the stream
    assert len(after[PAYMENTS]) == len(before[PAYMENTS])  # and back, once
