"""application feature provenance

``loan_applications.feature_sources``: where each feature's value came from (``applicant``,
``marketplace``: filled from escrow's trade summary, ``default``: omitted), as JSON; NULL while
the application waits for the summary and on earlier applications. ``marketplace_as_of``: the
summary's ``as_of``. ``challenger_disagreement``: scoring said a challenger's decision hint
differed from the champion's. ``loan_products.score_without_marketplace``: with escrow down,
score with the marketplace features defaulted instead of waiting (false on existing products).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 14:00:00.000000

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: Union[str, Sequence[str], None] = "0010"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    # plain ALTER TABLE on both backends (SQLite >= 3.35 drops columns natively): a batch
    # rebuild of loan_products would drop a table other tables' foreign keys point at
    op.add_column("loan_applications", sa.Column("feature_sources", sa.Text(), nullable=True))
    op.add_column("loan_applications", sa.Column("marketplace_as_of", sa.DateTime(timezone=True), nullable=True))
    op.add_column("loan_applications", sa.Column("challenger_disagreement", sa.Boolean(), nullable=True))
    op.add_column(
        "loan_products",
        sa.Column("score_without_marketplace", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column("loan_products", "score_without_marketplace")
    op.drop_column("loan_applications", "challenger_disagreement")
    op.drop_column("loan_applications", "marketplace_as_of")
    op.drop_column("loan_applications", "feature_sources")
