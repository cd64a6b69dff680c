"""Payments and their double-entry ledger, plus the chassis tables (idempotency keys, outbox).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from chassis.migrations import create_chassis_tables, drop_chassis_tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = ("AUTHORIZED", "DECLINED", "CAPTURED", "VOIDED", "PARTIALLY_REFUNDED", "REFUNDED")
ACCOUNTS = ("customer_cards", "authorization_holds", "processor_settlement")
KINDS = ("authorization", "capture", "void", "refund")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# Checked at commit, once the whole movement is in: its entries sum to zero per currency.
BALANCED_MOVEMENT = """
CREATE FUNCTION ledger_movement_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    total numeric;
BEGIN
    SELECT sum(amount_minor) INTO total FROM ledger_entries
     WHERE payment_id = NEW.payment_id AND version = NEW.version AND currency = NEW.currency;
    IF total <> 0 THEN
        RAISE EXCEPTION 'ledger movement %/% in % sums to %, not zero',
            NEW.payment_id, NEW.version, NEW.currency, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER ledger_movement_balanced
    AFTER INSERT ON ledger_entries DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_movement_balanced();
"""

APPEND_ONLY = """
CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only: post a new movement instead'
        USING ERRCODE = 'check_violation';
END $$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();
"""


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("payment_id", sa.Uuid(as_uuid=False), primary_key=True),
        sa.Column("order_id", sa.Text, nullable=False),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("authorized_minor", sa.BigInteger, nullable=False),
        sa.Column("captured_minor", sa.BigInteger, nullable=False),
        sa.Column("refunded_minor", sa.BigInteger, nullable=False),
        sa.Column("decline_reason", sa.Text),
        sa.Column("processor_reference", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.CheckConstraint(_one_of("status", STATUSES), name="payments_status_known"),
        sa.CheckConstraint("authorized_minor > 0", name="payments_authorized_positive"),
        sa.CheckConstraint(
            "0 <= refunded_minor AND refunded_minor <= captured_minor"
            " AND captured_minor <= authorized_minor",
            name="payments_refunded_within_captured_within_authorized",
        ),
        sa.CheckConstraint("version > 0", name="payments_version_positive"),
    )
    op.create_index("payments_order_id_idx", "payments", ["order_id"])
    op.create_table(
        "ledger_entries",
        sa.Column(
            "payment_id",
            sa.Uuid(as_uuid=False),
            sa.ForeignKey("payments.payment_id"),
            nullable=False,
        ),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("account", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("payment_id", "version", "account", name="ledger_entries_pkey"),
        sa.CheckConstraint("amount_minor <> 0", name="ledger_entries_amount_not_zero"),
        sa.CheckConstraint(_one_of("account", ACCOUNTS), name="ledger_entries_account_known"),
        sa.CheckConstraint(_one_of("kind", KINDS), name="ledger_entries_kind_known"),
    )
    op.execute(BALANCED_MOVEMENT)
    op.execute(APPEND_ONLY)
    create_chassis_tables(op)


def downgrade() -> None:
    drop_chassis_tables(op)
    op.drop_table("ledger_entries")  # its triggers go with it
    op.execute("DROP FUNCTION ledger_entries_append_only()")
    op.execute("DROP FUNCTION ledger_movement_balanced()")
    op.drop_table("payments")
