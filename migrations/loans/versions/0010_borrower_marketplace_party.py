"""borrower link to a marketplace party

``borrowers.marketplace_party_id`` names the borrower's party in escrow (the seller it sells
as on the marketplace): its trade summary fills an application's marketplace features and its
sale proceeds can repay its loans. One borrower per party (a unique index; NULL when not linked). Plain ALTERs, no batch
rebuild: rebuilding ``borrowers`` on SQLite trips the foreign keys that name it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 13:58:00.000000

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: Union[str, Sequence[str], None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column("borrowers", sa.Column("marketplace_party_id", sa.String(length=128), nullable=True))
    op.create_index("ix_borrowers_marketplace_party_id", "borrowers", ["marketplace_party_id"], unique=True)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_borrowers_marketplace_party_id", table_name="borrowers")
    op.drop_column("borrowers", "marketplace_party_id")
