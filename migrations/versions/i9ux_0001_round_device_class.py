"""round.device_class: phone, tablet or desktop, as the page reported it

Phones show less of the drawing at a time than desktops, so human maps from phones may differ;
the analysis needs to tell them apart (issue 9). Nullable: older rounds and imports have none.

Revision ID: i9ux_0001
Revises: i8sec_0001
"""
from alembic import op
import sqlalchemy as sa


revision = 'i9ux_0001'
down_revision = 'i8sec_0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('round', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_class', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('round', schema=None) as batch_op:
        batch_op.drop_column('device_class')
