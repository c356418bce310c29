"""business date corrections

A correction of the business date (back, or further than one move may go): proposed by one
admin, confirmed by a different one; ``status`` is ``proposed`` or ``confirmed``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 09:11:58.964503

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('business_date_corrections',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('from_date', sa.Date(), nullable=False),
    sa.Column('to_date', sa.Date(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('proposed_by', sa.String(length=128), nullable=False),
    sa.Column('proposed_key_id', sa.String(length=36), nullable=False),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_by', sa.String(length=128), nullable=True),
    sa.Column('confirmed_key_id', sa.String(length=36), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_business_date_corrections'))
    )
    with op.batch_alter_table('business_date_corrections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_business_date_corrections_status'), ['status'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('business_date_corrections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_business_date_corrections_status'))

    op.drop_table('business_date_corrections')
