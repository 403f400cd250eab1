"""security: participant binding, researcher session epoch, API token scope

Revision ID: i8sec_0001
Revises: i7hard_0001
Create Date: 2026-11-27 21:30:00

Additive only: a nullable column and two columns with server defaults, so existing rows keep
working (existing tokens become export-only, existing sessions stay valid until epoch changes).
"""
from alembic import op
import sqlalchemy as sa


revision = 'i8sec_0001'
down_revision = 'i7hard_0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('player', schema=None) as batch_op:
        batch_op.add_column(sa.Column('binding_hash', sa.String(length=64), nullable=True))
    with op.batch_alter_table('researcher', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_epoch', sa.Integer(), server_default='0',
                                      nullable=False))
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scope', sa.String(length=16), server_default='export',
                                      nullable=False))


def downgrade():
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_column('scope')
    with op.batch_alter_table('researcher', schema=None) as batch_op:
        batch_op.drop_column('session_epoch')
    with op.batch_alter_table('player', schema=None) as batch_op:
        batch_op.drop_column('binding_hash')
