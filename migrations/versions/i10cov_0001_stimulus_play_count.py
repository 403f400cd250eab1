"""stimulus.play_count: rounds not abandoned, so choosing the next stimulus reads one row each

Sampling counted every round ever played (a GROUP BY over `round`) on every round start: a start
took 4.8 ms on a fresh SQLite database and 67.9 ms with 100,000 stored rounds
(`python -m benchmarks round_start`). The counter is kept by `webapp.services.coverage`; this
migration fills it from the rounds already stored.

Revision ID: i10cov_0001
Revises: i9ux_0001
"""
from alembic import op
import sqlalchemy as sa


revision = 'i10cov_0001'
down_revision = 'i9ux_0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('stimulus', schema=None) as batch_op:
        batch_op.add_column(sa.Column('play_count', sa.Integer(), server_default='0', nullable=False))
    op.execute("UPDATE stimulus SET play_count = (SELECT count(*) FROM round "
               "WHERE round.stimulus_id = stimulus.id AND round.status != 'abandoned')")


def downgrade():
    with op.batch_alter_table('stimulus', schema=None) as batch_op:
        batch_op.drop_column('play_count')
