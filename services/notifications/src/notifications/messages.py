"""Conversions between the contract's messages and the domain, shared by the gRPC API and
the events."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from notifications.domain import (
    Channel,
    Notification,
    NotificationStatus,
    PreferenceChoice,
    Preferences,
    Topic,
)
from shop.notifications.v1 import notification_pb2 as npb
from shop.notifications.v1 import preferences_pb2

CHANNEL_TO_PROTO = {Channel.EMAIL: npb.CHANNEL_EMAIL, Channel.SMS: npb.CHANNEL_SMS}
CHANNEL_FROM_PROTO = {number: channel for channel, number in CHANNEL_TO_PROTO.items()}
TOPIC_TO_PROTO = {
    Topic.ORDER_UPDATES: npb.TOPIC_ORDER_UPDATES,
    Topic.PAYMENT_UPDATES: npb.TOPIC_PAYMENT_UPDATES,
    Topic.SHIPPING_UPDATES: npb.TOPIC_SHIPPING_UPDATES,
    Topic.STOCK_ALERTS: npb.TOPIC_STOCK_ALERTS,
    Topic.MARKETING: npb.TOPIC_MARKETING,
}
TOPIC_FROM_PROTO = {number: topic for topic, number in TOPIC_TO_PROTO.items()}
STATUS_TO_PROTO = {
    NotificationStatus.PENDING: npb.NOTIFICATION_STATUS_PENDING,
    NotificationStatus.SENT: npb.NOTIFICATION_STATUS_SENT,
    NotificationStatus.FAILED: npb.NOTIFICATION_STATUS_FAILED,
    NotificationStatus.SUPPRESSED_BY_PREFERENCES: npb.NOTIFICATION_STATUS_SUPPRESSED_BY_PREFERENCES,
}


def timestamp(moment: datetime) -> Timestamp:
    message = Timestamp()
    message.FromDatetime(moment)
    return message


def notification_to_proto(notification: Notification) -> npb.Notification:
    message = npb.Notification(
        notification_id=notification.notification_id,
        customer_id=notification.customer_id,
        channel=CHANNEL_TO_PROTO[notification.channel],
        topic=TOPIC_TO_PROTO[notification.topic],
        subject=notification.subject,
        body=notification.body,
        status=STATUS_TO_PROTO[notification.status],
        cause_event_id=notification.cause_event_id,
        order_id=notification.order_id,
        create_time=timestamp(notification.created_at),
    )
    if notification.sent_at is not None:
        message.send_time.CopyFrom(timestamp(notification.sent_at))
    return message


def preferences_to_proto(preferences: Preferences) -> preferences_pb2.Preferences:
    message = preferences_pb2.Preferences(
        email_enabled=preferences.email_enabled,
        sms_enabled=preferences.sms_enabled,
        email=preferences.email,
        phone_e164=preferences.phone_e164,
        muted_topics=[TOPIC_TO_PROTO[topic] for topic in preferences.muted_topics],
        version=preferences.version,
    )
    if preferences.updated_at is not None:
        message.update_time.CopyFrom(timestamp(preferences.updated_at))
    return message


def choice_from_proto(message: preferences_pb2.Preferences) -> PreferenceChoice:
    """What the customer asks for; `version` and `update_time` are output only."""
    return PreferenceChoice(
        email_enabled=message.email_enabled,
        sms_enabled=message.sms_enabled,
        email=message.email,
        phone_e164=message.phone_e164,
        muted_topics=tuple(TOPIC_FROM_PROTO[number] for number in message.muted_topics),
    )
