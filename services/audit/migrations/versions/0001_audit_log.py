"""The hash-chained audit log and its head, the triggers that make the log append-only,
plus the chassis tables (idempotency keys, outbox).

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

# Refuses what would rewrite history, for every role but a superuser. The service's own
# role owns the tables (it could drop the trigger), so this stops mistakes and injected
# SQL, not a determined owner: the hash chain is what makes such tampering show.
# Superusers pass so that an operator can repair or empty a database deliberately.
REFUSE_REWRITE = """
CREATE FUNCTION audit_refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% on % refused: the audit log is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "audit_records",
        sa.Column("sequence", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.Text, nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.LargeBinary, nullable=False),
        sa.Column("stream", sa.Text, nullable=False),
        sa.Column("stream_sequence", sa.BigInteger, nullable=False),
        sa.Column("record_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("previous_hash", sa.LargeBinary, nullable=False),
        sa.Column("record_hash", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("event_id", name="audit_records_event_id_key"),
        sa.CheckConstraint("sequence > 0", name="audit_records_sequence_positive"),
        sa.CheckConstraint("length(previous_hash) = 32", name="audit_records_previous_hash_sha256"),
        sa.CheckConstraint("length(record_hash) = 32", name="audit_records_record_hash_sha256"),
    )
    op.create_index("audit_records_subject_idx", "audit_records", ["subject", "sequence"])
    op.create_index("audit_records_type_idx", "audit_records", ["event_type", "sequence"])
    op.create_index(
        "audit_records_correlation_idx", "audit_records", ["correlation_id", "sequence"]
    )
    op.create_index("audit_records_time_idx", "audit_records", ["event_time"])
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.SmallInteger, primary_key=True),
        sa.Column("sequence", sa.BigInteger, nullable=False),
        sa.Column("record_hash", sa.LargeBinary, nullable=False),
        sa.CheckConstraint("id = 1", name="audit_chain_head_single_row"),
    )
    op.execute(
        "INSERT INTO audit_chain_head (id, sequence, record_hash)"
        " VALUES (1, 0, decode(repeat('00', 32), 'hex'))"
    )
    op.execute(REFUSE_REWRITE)
    op.execute(
        "CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records"
        " FOR EACH ROW EXECUTE FUNCTION audit_refuse_rewrite()"
    )
    op.execute(
        "CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records"
        " FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_rewrite()"
    )
    # The head moves forward with each append (UPDATE); it is never removed.
    op.execute(
        "CREATE TRIGGER audit_chain_head_kept BEFORE DELETE ON audit_chain_head"
        " FOR EACH ROW EXECUTE FUNCTION audit_refuse_rewrite()"
    )
    op.execute(
        "CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head"
        " FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_rewrite()"
    )
    create_chassis_tables(op)


def downgrade() -> None:
    drop_chassis_tables(op)
    op.drop_table("audit_chain_head")
    op.drop_table("audit_records")
    op.execute("DROP FUNCTION audit_refuse_rewrite()")
