"""round: credited, flag_reason, path_px, dropped_points (anti-cheat and late points)

Revision ID: i7hard_0001
Revises: 20fb2ad70573
Create Date: 2026-11-27 21:20:00

Additive: every new column has a server default or is nullable, so existing rows stay valid
(they count as credited, unflagged, with no path measured and nothing dropped).
"""
from alembic import op
import sqlalchemy as sa


revision = 'i7hard_0001'
down_revision = '20fb2ad70573'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('round', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credited', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column('flag_reason', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('path_px', sa.Float(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('dropped_points', sa.Integer(), server_default='0', nullable=False))


def downgrade():
    with op.batch_alter_table('round', schema=None) as batch_op:
        batch_op.drop_column('dropped_points')
        batch_op.drop_column('path_px')
        batch_op.drop_column('flag_reason')
        batch_op.drop_column('credited')
