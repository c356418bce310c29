"""escrow listing indexes

``GET /v1/escrows`` lists newest first, a marketplace's own escrows (``owner``) or, for
auditors and admins, everyone's, optionally within a time window: both orders are now an
index scan, not a scan and sort of every escrow (issue 13).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10 09:00:00.000000

"""
from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('escrows', schema=None) as batch_op:
        batch_op.create_index('ix_escrows_created_at', ['created_at', 'id'], unique=False)
        batch_op.create_index('ix_escrows_owner_created_at', ['owner', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('escrows', schema=None) as batch_op:
        batch_op.drop_index('ix_escrows_owner_created_at')
        batch_op.drop_index('ix_escrows_created_at')
