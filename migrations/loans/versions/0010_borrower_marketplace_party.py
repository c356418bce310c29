"""borrower link to a marketplace party

``borrowers.marketplace_party_id`` names the borrower's party in escrow (the seller it sells
as on the marketplace): its trade summary fills an application's marketplace features and its
sale proceeds can repay its loans. One borrower per party (unique; NULL when not linked).

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
    with op.batch_alter_table("borrowers") as batch:
        batch.add_column(sa.Column("marketplace_party_id", sa.String(length=128), nullable=True))
        batch.create_unique_constraint("uq_borrowers_marketplace_party_id", ["marketplace_party_id"])


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("borrowers") as batch:
        batch.drop_constraint("uq_borrowers_marketplace_party_id", type_="unique")
        batch.drop_column("marketplace_party_id")
