"""integrity (issue 20): unique pseudonyms, several attempts per platform id, study collaborators

* ``player.pseudonym_key``: the pseudonym as a reader tells names apart (case and look-alikes
  folded, `webapp.services.pseudonyms.pseudonym_key`), unique. Filled for existing players; when
  old players already share a name, the first keeps the key and the others keep their name
  without one (new players cannot take it).
* ``player (study_id, external_id)`` is no longer unique: a participant id used in a second
  browser gets an attempt of its own (no squatting); a plain index keeps look-ups fast, and one
  on ``binding_hash`` finds this browser's attempt.
* ``study_collaborator``: researchers a study is shared with (``study.created_by`` is the owner).

Revision ID: i20_0001
Revises: i21_0001
"""
from alembic import op
import sqlalchemy as sa


revision = 'i20_0001'
down_revision = 'i21_0001'
branch_labels = None
depends_on = None


def upgrade():
    from webapp.services.pseudonyms import pseudonym_key

    with op.batch_alter_table('player', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pseudonym_key', sa.String(length=64), nullable=True))
    bind = op.get_bind()
    seen = set()
    for player_id, pseudonym in bind.execute(sa.text("SELECT id, pseudonym FROM player ORDER BY id")):
        key = pseudonym_key(pseudonym)
        if key not in seen:
            seen.add(key)
            bind.execute(sa.text("UPDATE player SET pseudonym_key = :k WHERE id = :i"),
                         {"k": key, "i": player_id})
    with op.batch_alter_table('player', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_player_pseudonym_key', ['pseudonym_key'])
        batch_op.drop_constraint('uq_player_study_external', type_='unique')
        batch_op.create_index('ix_player_study_external', ['study_id', 'external_id'])
        batch_op.create_index('ix_player_binding_hash', ['binding_hash'])
    op.create_table(
        'study_collaborator',
        sa.Column('study_id', sa.Integer(), nullable=False),
        sa.Column('researcher_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['study_id'], ['study.id'], name='fk_study_collaborator_study_id_study',
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['researcher_id'], ['researcher.id'],
                                name='fk_study_collaborator_researcher_id_researcher',
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('study_id', 'researcher_id', name='pk_study_collaborator'))


def downgrade():
    op.drop_table('study_collaborator')
    with op.batch_alter_table('player', schema=None) as batch_op:
        batch_op.drop_index('ix_player_binding_hash')
        batch_op.drop_index('ix_player_study_external')
        batch_op.create_unique_constraint('uq_player_study_external', ['study_id', 'external_id'])
        batch_op.drop_constraint('uq_player_pseudonym_key', type_='unique')
        batch_op.drop_column('pseudonym_key')
