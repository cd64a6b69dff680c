"""Every domain event says, in its contract, where it is published and what it is about.

The outbox derives an event's JetStream subject and CloudEvents subject from these options,
so a missing or inconsistent one would publish an event where nobody listens.
"""

from __future__ import annotations

import re

import pytest
from google.protobuf import descriptor

from shop.common.v1 import event_pb2
from tests.contracts.conftest import shop_files

EVENTS = [
    message
    for file in shop_files()
    if file.name.endswith("/events.proto")
    for message in file.message_types_by_name.values()
]


def test_every_context_that_publishes_has_events() -> None:
    assert len(EVENTS) >= 19
    assert {e.full_name.split(".")[1] for e in EVENTS} >= {"catalog", "orders", "payments"}


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.full_name)
def test_an_event_names_its_subject_and_collection(event: descriptor.Descriptor) -> None:
    options = event.GetOptions()
    assert options.HasExtension(event_pb2.event), f"{event.full_name} has no (event) option"
    declared = options.Extensions[event_pb2.event]
    context = event.full_name.split(".")[1]
    # <context>.<aggregate>.<event>: the context's stream takes `<context>.>`.
    assert re.fullmatch(rf"{context}\.[a-z_]+\.[a-z_]+", declared.subject), declared.subject
    assert re.fullmatch(r"[a-z_]+", declared.collection), declared.collection


def test_no_two_events_share_a_subject() -> None:
    subjects = [e.GetOptions().Extensions[event_pb2.event].subject for e in EVENTS]
    assert len(subjects) == len(set(subjects))
