"""The saga's metrics (Prometheus, on the instance's /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

STARTED = Counter("order_sagas_started", "Order sagas started (orders placed).")
COMPLETED = Counter("order_sagas_completed", "Order sagas that ended CONFIRMED.")
COMPENSATED = Counter(
    "order_sagas_compensated", "Order sagas compensated (REJECTED), by failing step.", ("step",)
)
CANCELLED = Counter(
    "order_sagas_cancelled", "Order sagas compensated because the customer cancelled (queued)."
)
FAILED = Counter(
    "order_sagas_failed", "Order sagas STUCK: a compensation refused for good, by step.", ("step",)
)
DURATION = Histogram(
    "order_saga_duration_seconds",
    "From PlaceOrder to CONFIRMED, REJECTED or CANCELLED (outcome).",
    ("outcome",),
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
STEP_CALLS = Counter(
    "order_saga_step_calls",
    "Calls of saga steps (actions and compensations), by step and outcome (ok, failed).",
    ("step", "outcome"),
)
STEP_DURATION = Histogram(
    "order_saga_step_duration_seconds",
    "One call of a saga step, by step.",
    ("step",),
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15),
)
SAGAS = Gauge(
    "orders_sagas",
    "Order sagas by phase (FORWARD, COMPENSATING, CONFIRMED, REJECTED, CANCELLED, STUCK),"
    " counted in the database every few seconds (every instance counts the same table).",
    ("phase",),
)
