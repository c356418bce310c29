"""decision feature sources

``scoring_decisions.feature_sources``: where each feature's value came from as the caller
stated it (``applicant``, ``marketplace``, ``default``), JSON, NULL when it stated nothing;
``marketplace_as_of``: the trade summary's time; ``challenger_disagreement``: a challenger
scored in shadow gave another decision hint (existing decisions: computed from their shadow
scores).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 14:05:00.000000

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("scoring_decisions") as batch:
        batch.add_column(sa.Column("feature_sources", sa.Text(), nullable=True))
        batch.add_column(sa.Column("marketplace_as_of", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("challenger_disagreement", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(
        "UPDATE scoring_decisions SET challenger_disagreement = EXISTS ("
        "SELECT 1 FROM scoring_shadow_scores s WHERE s.decision_id = scoring_decisions.id"
        " AND s.decision_hint <> scoring_decisions.decision_hint)"
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("scoring_decisions") as batch:
        batch.drop_column("challenger_disagreement")
        batch.drop_column("marketplace_as_of")
        batch.drop_column("feature_sources")
