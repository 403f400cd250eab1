"""stimulus.full_reveal_*: the classifier's guess on the whole drawing, so unwinnable drawings are known

25 of the 204 default drawings were never recognised even fully revealed (top-1 = category with
p >= 0.5, the game's rule): a round on them could only end "Time's up". The guess on the whole
drawing is stored with the classifier version that made it (`flask --app wsgi setup` and
`stimuli import` fill it; `stimuli check` recomputes it); the open game does not serve a drawing
known to be unwinnable, and the research pages show it per stimulus. NULL = not checked yet.

Revision ID: i21_0001
Revises: i10cov_0001
"""
from alembic import op
import sqlalchemy as sa


revision = 'i21_0001'
down_revision = 'i10cov_0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('stimulus', schema=None) as batch_op:
        batch_op.add_column(sa.Column('full_reveal_label', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('full_reveal_p', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('full_reveal_recognised', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('full_reveal_model', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('stimulus', schema=None) as batch_op:
        batch_op.drop_column('full_reveal_model')
        batch_op.drop_column('full_reveal_recognised')
        batch_op.drop_column('full_reveal_p')
        batch_op.drop_column('full_reveal_label')
