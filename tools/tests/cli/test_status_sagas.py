"""`shop status`'s saga counts and consumer lag sections, from the figures it collects."""

from __future__ import annotations

from typing import Any

from shoptools.stack import status


def instance(totals: dict[str, int], phases: dict[str, int]) -> dict[str, Any]:
    return {"saga_totals": totals, "saga_phases": phases}


def test_saga_counters_add_up_over_instances_and_the_phase_gauge_is_taken_once() -> None:
    phases = {"FORWARD": 2, "CONFIRMED": 10}
    sagas = status.sagas(
        [
            instance({"started": 7, "completed": 5}, phases),
            instance({"started": 5, "completed": 5, "compensated": 1}, phases),
            instance({}, {}),  # a service without sagas
        ]
    )

    assert sagas == {
        "totals": {"started": 12, "completed": 10, "compensated": 1},
        "phases": phases,  # database-wide: the same from every instance
    }


def test_no_saga_section_without_orders() -> None:
    assert status.sagas([instance({}, {})]) is None


def report(sagas: dict[str, Any] | None, consumers: Any) -> dict[str, Any]:
    return {
        "state": "ready",
        "ready_s": 1.0,
        "supervisor_pid": 1,
        "faults": [],
        "components": [],
        "sagas": sagas,
        "consumers": consumers,
    }


def test_the_sagas_and_consumer_lag_are_rendered() -> None:
    text = status.render(
        report(
            {"totals": {"started": 3, "completed": 2, "compensated": 1}, "phases": {}},
            [
                {
                    "stream": "ORDERS",
                    "consumer": "audit-orders",
                    "pending": 4,
                    "ack_pending": 1,
                    "redelivered": 0,
                }
            ],
        )
    )

    assert "3 started, 2 completed (CONFIRMED), 1 compensated (REJECTED), 0 failed" in text
    assert "by phase" not in text  # orders does not export the gauge
    lag_line = next(line for line in text.splitlines() if "audit-orders" in line)
    assert lag_line.split()[2:4] == ["5", "4"]  # lag = pending + ack pending


def test_the_phase_gauge_is_shown_when_exported_and_nats_trouble_is_said() -> None:
    text = status.render(
        report(
            {"totals": {}, "phases": {"FORWARD": 1, "STUCK": 0}},
            "NATS does not answer: TimeoutError",
        )
    )

    assert "Sagas by phase now: FORWARD 1, STUCK 0." in text
    assert "Event consumers: NATS does not answer: TimeoutError" in text
