"""Notifications, preferences and purchases, plus the chassis tables (idempotency keys,
which are also the consumers' inbox, and the outbox).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from chassis.migrations import create_chassis_tables, drop_chassis_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = "('pending', 'sent', 'failed', 'suppressed_by_preferences')"


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("notification_id", postgresql.UUID(as_uuid=False), primary_key=True),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("cause_event_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("order_id", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("failure", sa.Text, nullable=False),
        sa.UniqueConstraint("cause_event_id", "customer_id", "channel", name="notifications_once"),
        sa.CheckConstraint(f"status IN {STATUSES}", name="notifications_status_known"),
        sa.CheckConstraint("attempts >= 0", name="notifications_attempts_not_negative"),
        sa.CheckConstraint(
            "(status = 'pending') = (next_attempt_at IS NOT NULL)",
            name="notifications_only_pending_are_due",
        ),
        sa.CheckConstraint(
            "(status = 'sent') = (sent_at IS NOT NULL)", name="notifications_sent_have_a_time"
        ),
    )
    op.create_index(
        "notifications_by_customer",
        "notifications",
        ["customer_id", "created_at", "notification_id"],
    )
    op.create_index(
        "notifications_due",
        "notifications",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "preferences",
        sa.Column("customer_id", sa.Text, primary_key=True),
        sa.Column("email_enabled", sa.Boolean, nullable=False),
        sa.Column("sms_enabled", sa.Boolean, nullable=False),
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("phone_e164", sa.Text, nullable=False),
        sa.Column("muted_topics", postgresql.ARRAY(sa.Text), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("version > 0", name="preferences_version_positive"),
        sa.CheckConstraint("NOT email_enabled OR email <> ''", name="preferences_email_address"),
        sa.CheckConstraint("NOT sms_enabled OR phone_e164 <> ''", name="preferences_sms_number"),
    )
    op.create_table(
        "purchases",
        sa.Column("sku", sa.Text, nullable=False),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("sku", "customer_id", name="purchases_pkey"),
    )
    create_chassis_tables(op)


def downgrade() -> None:
    drop_chassis_tables(op)
    op.drop_table("purchases")
    op.drop_table("preferences")
    op.drop_index("notifications_due", table_name="notifications")
    op.drop_index("notifications_by_customer", table_name="notifications")
    op.drop_table("notifications")
