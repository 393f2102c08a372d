"""colleagues: several users per enterprise or supplier, member management, signatories, invitations

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 05:40:00

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        # Every existing account is its organisation's first (and only) one: manager and signatory.
        batch_op.add_column(sa.Column('is_org_admin', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('is_signatory', sa.Boolean(), nullable=False, server_default=sa.true()))
    op.create_table('team_invite',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=120), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash'),
    sa.UniqueConstraint('user_id')
    )


def downgrade():
    op.drop_table('team_invite')
    # Plain DROP COLUMN (SQLite >= 3.35): a batch rebuild of "user" trips the foreign keys that name it.
    op.drop_column('user', 'is_signatory')
    op.drop_column('user', 'is_org_admin')
