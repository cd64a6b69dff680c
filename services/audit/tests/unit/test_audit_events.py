"""What audit consumes: every event message of every context's events.proto, read here
from the .proto files themselves, one subscription (durable consumer) per context."""

from __future__ import annotations

import re
from pathlib import Path

from audit_fakes import in_memory_uow

from audit.events import EventRecorder, audited_events

PROTO = Path(__file__).resolve().parents[4] / "proto" / "shop"


def events_in_the_contracts() -> dict[str, set[str]]:
    found = {}
    for path in sorted(PROTO.glob("*/v1/events.proto")):
        messages = re.findall(r"^message (\w+) \{", path.read_text(), flags=re.MULTILINE)
        found[path.parts[-3]] = {f"shop.{path.parts[-3]}.v1.{name}" for name in messages}
    return found


def test_every_event_of_every_contract_is_audited() -> None:
    audited = {
        context: {kind.DESCRIPTOR.full_name for kind in kinds}
        for context, kinds in audited_events().items()
    }

    assert audited == events_in_the_contracts()
    assert "audit" not in audited  # it publishes nothing


def test_there_is_one_durable_consumer_per_context_stream() -> None:
    subscriptions = EventRecorder(in_memory_uow).subscriptions()

    assert {s.name: s.stream for s in subscriptions} == {
        f"audit-{context}": context.upper() for context in events_in_the_contracts()
    }
