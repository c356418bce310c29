"""decision policies: a product's versioned policy, and what it decided for an application

``loan_decision_policies`` holds every version of a product's decision policy (rules as
canonical JSON, never changed: a change is a new version). An application keeps the
version that decided it, the outcome and every rule's result.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:45:00.000000

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
    op.create_table(
        "loan_decision_policies",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("product_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rules", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["loan_products.id"],
            name=op.f("fk_loan_decision_policies_product_id_loan_products"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_decision_policies")),
        sa.UniqueConstraint("product_id", "version", name=op.f("uq_loan_decision_policies_product_id")),
    )
    with op.batch_alter_table("loan_applications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("policy_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("policy_outcome", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("policy_rules", sa.Text(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("loan_applications", schema=None) as batch_op:
        batch_op.drop_column("policy_rules")
        batch_op.drop_column("policy_outcome")
        batch_op.drop_column("policy_version")
    op.drop_table("loan_decision_policies")
