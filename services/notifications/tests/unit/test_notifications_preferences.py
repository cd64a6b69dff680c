"""A customer's preferences: nothing is sent before they give an address, a change is a new
version, a channel without a provider cannot be enabled, muted topics are suppressed."""

from __future__ import annotations

import dataclasses

import pytest
from notifications_examples import ADA_EMAIL, EMAIL_ON, T0

from notifications.domain import (
    DEFAULT_PREFERENCES,
    Channel,
    ChannelNotAvailable,
    Topic,
    change_preferences,
)

EMAIL_ONLY = frozenset({Channel.EMAIL})


def test_the_defaults_send_nothing_and_mute_marketing() -> None:
    assert DEFAULT_PREFERENCES.version == 0
    assert not DEFAULT_PREFERENCES.allows(Channel.EMAIL, Topic.ORDER_UPDATES)
    assert not DEFAULT_PREFERENCES.allows(Channel.SMS, Topic.ORDER_UPDATES)
    assert DEFAULT_PREFERENCES.muted_topics == (Topic.MARKETING,)


def test_a_change_is_the_next_version_and_allows_what_it_enables() -> None:
    first = change_preferences(DEFAULT_PREFERENCES, EMAIL_ON, available=EMAIL_ONLY, now=T0)
    second = change_preferences(first, EMAIL_ON, available=EMAIL_ONLY, now=T0)

    assert (first.version, second.version) == (1, 2)
    assert first.updated_at == T0
    assert first.allows(Channel.EMAIL, Topic.ORDER_UPDATES)
    assert first.address(Channel.EMAIL) == ADA_EMAIL


def test_a_muted_topic_is_not_allowed_on_any_channel() -> None:
    muting = dataclasses.replace(EMAIL_ON, muted_topics=(Topic.STOCK_ALERTS,))
    preferences = change_preferences(DEFAULT_PREFERENCES, muting, available=EMAIL_ONLY, now=T0)

    assert not preferences.allows(Channel.EMAIL, Topic.STOCK_ALERTS)
    assert preferences.allows(Channel.EMAIL, Topic.SHIPPING_UPDATES)


def test_the_same_topics_in_another_order_are_the_same_preferences() -> None:
    one = dataclasses.replace(EMAIL_ON, muted_topics=(Topic.MARKETING, Topic.STOCK_ALERTS))
    other = dataclasses.replace(EMAIL_ON, muted_topics=(Topic.STOCK_ALERTS, Topic.MARKETING))

    assert change_preferences(
        DEFAULT_PREFERENCES, one, available=EMAIL_ONLY, now=T0
    ) == change_preferences(DEFAULT_PREFERENCES, other, available=EMAIL_ONLY, now=T0)


def test_a_channel_without_a_provider_cannot_be_enabled() -> None:
    sms = dataclasses.replace(EMAIL_ON, sms_enabled=True, phone_e164="+4915112345678")

    with pytest.raises(ChannelNotAvailable) as refused:
        change_preferences(DEFAULT_PREFERENCES, sms, available=EMAIL_ONLY, now=T0)

    assert refused.value.field == "preferences.sms_enabled"
