"""The saga's metrics (Prometheus, on the instance's /metrics)."""

from prometheus_client import Counter, Histogram

STARTED = Counter("order_sagas_started", "Order sagas started (orders placed).")
COMPLETED = Counter("order_sagas_completed", "Order sagas that ended CONFIRMED.")
COMPENSATED = Counter(
    "order_sagas_compensated", "Order sagas compensated (REJECTED), by failing step.", ("step",)
)
FAILED = Counter(
    "order_sagas_failed", "Order sagas STUCK: a compensation refused for good, by step.", ("step",)
)
DURATION = Histogram(
    "order_saga_duration_seconds",
    "From PlaceOrder to CONFIRMED or REJECTED.",
    ("outcome",),
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
