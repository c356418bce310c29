"""escrow trade summary index

``GET /v1/parties/{party_id}/trade-summary`` reads one seller's escrows created within a
twelve-month window: an index on (seller_id, created_at) serves it (issue 11). It replaces
the single-column ``ix_escrows_seller_id``, which is its prefix.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:40:00.000000

"""

from typing import Sequence, Union

from alembic import op


# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("escrows", schema=None) as batch_op:
        batch_op.create_index("ix_escrows_seller_id_created_at", ["seller_id", "created_at"], unique=False)
        batch_op.drop_index("ix_escrows_seller_id")


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("escrows", schema=None) as batch_op:
        batch_op.create_index("ix_escrows_seller_id", ["seller_id"], unique=False)
        batch_op.drop_index("ix_escrows_seller_id_created_at")
