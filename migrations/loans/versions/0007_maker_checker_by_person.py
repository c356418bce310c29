"""maker-checker by person, review queue indexes

Maker-checker compares people, not keys: an application keeps who submitted it
(``submitted_identity``: ``person:<username>`` when the console acted for a person, else
``key:<key id>``), and a business-date correction who proposed and who confirmed it. Rows
stored before this revision were made with plain API keys, so they are backfilled as
``'key:' || <key id>``.

The review queue lists applications by status, oldest or newest first:
(status, submitted_at, id) serves that page from the index, (submitted_at, id) the
unfiltered listing; the index on status alone is the first one's prefix and goes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 10:56:54.103632

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('business_date_corrections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('proposed_identity', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('confirmed_identity', sa.String(length=128), nullable=True))
    op.execute("UPDATE business_date_corrections SET proposed_identity = 'key:' || proposed_key_id")
    op.execute(
        "UPDATE business_date_corrections SET confirmed_identity = 'key:' || confirmed_key_id "
        "WHERE confirmed_key_id IS NOT NULL"
    )
    with op.batch_alter_table('business_date_corrections', schema=None) as batch_op:
        batch_op.alter_column('proposed_identity', existing_type=sa.String(length=128), nullable=False)

    with op.batch_alter_table('loan_applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submitted_identity', sa.String(length=128), nullable=True))
    op.execute("UPDATE loan_applications SET submitted_identity = 'key:' || submitted_key_id")
    with op.batch_alter_table('loan_applications', schema=None) as batch_op:
        batch_op.alter_column('submitted_identity', existing_type=sa.String(length=128), nullable=False)
        batch_op.drop_index(batch_op.f('ix_loan_applications_status'))
        batch_op.create_index('ix_loan_applications_status_submitted_at', ['status', 'submitted_at', 'id'], unique=False)
        batch_op.create_index('ix_loan_applications_submitted_at', ['submitted_at', 'id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('loan_applications', schema=None) as batch_op:
        batch_op.drop_index('ix_loan_applications_submitted_at')
        batch_op.drop_index('ix_loan_applications_status_submitted_at')
        batch_op.create_index(batch_op.f('ix_loan_applications_status'), ['status'], unique=False)
        batch_op.drop_column('submitted_identity')

    with op.batch_alter_table('business_date_corrections', schema=None) as batch_op:
        batch_op.drop_column('confirmed_identity')
        batch_op.drop_column('proposed_identity')
