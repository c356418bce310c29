"""loan outcomes: what each loan has reported to scoring

``loan_outcomes`` holds one row per loan and outcome (``repaid``, ``dpd30``, ``dpd60``,
``dpd90``, ``written_off``) emitted as a ``loan.outcome`` event, so none is emitted twice.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 12:55:00.000000

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: Union[str, Sequence[str], None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "loan_outcomes",
        sa.Column("loan_id", sa.String(length=36), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("score_id", sa.String(length=64), nullable=True),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_loan_outcomes_loan_id_loans")),
        sa.PrimaryKeyConstraint("loan_id", "outcome", name=op.f("pk_loan_outcomes")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("loan_outcomes")
