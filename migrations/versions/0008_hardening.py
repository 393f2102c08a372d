"""hardening: audit chain covers every shown column, TRUNCATE blocked on PostgreSQL, login attempts

Only the TRUNCATE trigger changes the schema (PostgreSQL).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 05:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


# Written out here, not imported: a migration keeps doing what it did when it was written.
# (0001 installs the guards through blueprints.core.audit.install_guards, which now includes this
# trigger on a fresh database; creating it again is harmless.)
TRUNCATE_GUARD = [
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event",
    "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_no_rewrite()",
]


def upgrade():
    # TRUNCATE fires no row trigger: refuse it with a statement trigger on the same function (SUP-1).
    # No column changes: audit hash version 2 (actor_name covered) is told apart by its hash alone,
    # and the login soft lock keeps its counters in rate_event.
    if op.get_bind().dialect.name == "postgresql":
        for stmt in TRUNCATE_GUARD:
            op.execute(stmt)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
