"""What the API's enum names mean, in words a customer reads."""

from __future__ import annotations

from dataclasses import dataclass

ORDER_STATUS = {
    "ORDER_STATUS_PENDING": "Pending",
    "ORDER_STATUS_CONFIRMED": "Confirmed",
    "ORDER_STATUS_REJECTED": "Rejected",
    "ORDER_STATUS_CANCELLING": "Cancelling",
    "ORDER_STATUS_CANCELLED": "Cancelled",
}
ORDER_STATUS_DETAIL = {
    "ORDER_STATUS_PENDING": "We are taking payment, reserving the products and booking delivery.",
    "ORDER_STATUS_CONFIRMED": "Paid, reserved and booked for delivery.",
    "ORDER_STATUS_REJECTED": "The order could not be completed.",
    "ORDER_STATUS_CANCELLING": "We are refunding the payment and cancelling the delivery.",
    "ORDER_STATUS_CANCELLED": "The order was cancelled.",
}
# The order can still change on its own: the order page keeps asking.
UNSETTLED_STATUSES = frozenset({"ORDER_STATUS_PENDING", "ORDER_STATUS_CANCELLING"})

REJECTION_REASON = {
    "REJECTION_REASON_PAYMENT_DECLINED": "Your card was declined by the card processor. "
    "Please try another card.",
    "REJECTION_REASON_OUT_OF_STOCK": "A product in the order sold out before we could reserve it.",
    "REJECTION_REASON_DESTINATION_NOT_SERVED": "We do not deliver to the shipping address's "
    "country.",
    "REJECTION_REASON_PAYMENT_ERROR": "The card processor could not be reached to take the "
    "payment. Please try again later.",
    "REJECTION_REASON_TIMED_OUT": "The order took too long to complete and was stopped.",
    "REJECTION_REASON_INTERNAL_ERROR": "Something went wrong on our side while completing the "
    "order.",
}
UNKNOWN_REJECTION = "The order could not be completed."

PAYMENT_STATUS = {
    "PAYMENT_STATUS_CAPTURED": "Charged",
    "PAYMENT_STATUS_VOIDED": "Not charged (the card authorization was released)",
    "PAYMENT_STATUS_REFUNDED": "Refunded",
}
NOT_CHARGED = "Not charged"

DELIVERY_STATUS = {
    "DELIVERY_STATUS_CREATED": "Booked with the carrier",
    "DELIVERY_STATUS_DISPATCHED": "On its way",
    "DELIVERY_STATUS_CANCELLED": "Cancelled",
}

NOTIFICATION_STATUS = {
    "NOTIFICATION_STATUS_PENDING": "Being sent",
    "NOTIFICATION_STATUS_SENT": "Sent",
    "NOTIFICATION_STATUS_FAILED": "Could not be delivered",
    "NOTIFICATION_STATUS_SUPPRESSED_BY_PREFERENCES": "Not sent: email is off in your "
    "notification preferences",
}

SHIPPING_SPEEDS = ("SHIPPING_SPEED_STANDARD", "SHIPPING_SPEED_EXPRESS")
SPEED_NAME = {"SHIPPING_SPEED_STANDARD": "Standard", "SHIPPING_SPEED_EXPRESS": "Express"}
# A shipping quote names service levels; an order names speeds.
SPEED_OF_SERVICE_LEVEL = {
    "SERVICE_LEVEL_STANDARD": "SHIPPING_SPEED_STANDARD",
    "SERVICE_LEVEL_EXPRESS": "SHIPPING_SPEED_EXPRESS",
}


@dataclass(frozen=True)
class SimulatedCard:
    token: str
    label: str
    outcome: str


# The simulated card processor's test cards (services/payments simulated_processor.py),
# listed on the checkout page as a card gateway's test mode lists its own.
TEST_CARDS = (
    SimulatedCard("tok_visa", "Visa test card", "approved"),
    SimulatedCard("tok_mastercard", "Mastercard test card", "approved"),
    SimulatedCard("tok_declined", "Declined card", "declined by the processor"),
    SimulatedCard("tok_insufficient_funds", "Card without funds", "declined: insufficient funds"),
    SimulatedCard("tok_expired_card", "Expired card", "declined: card expired"),
    SimulatedCard("tok_fraudulent", "Card flagged as fraud", "declined: suspected fraud"),
    SimulatedCard("tok_timeout", "Unresponsive processor", "the authorization never answers"),
    SimulatedCard("tok_flaky", "Flaky processor", "approved after a retry"),
)


def order_status(name: str) -> str:
    return ORDER_STATUS.get(name, "Unknown")


def rejection_reason(name: str) -> str:
    return REJECTION_REASON.get(name, UNKNOWN_REJECTION)


def payment_status(name: str) -> str:
    return PAYMENT_STATUS.get(name, NOT_CHARGED)


def notification_status(name: str) -> str:
    return NOTIFICATION_STATUS.get(name, "Recorded")


def delivery_status(name: str) -> str:
    return DELIVERY_STATUS.get(name, "Not booked")
