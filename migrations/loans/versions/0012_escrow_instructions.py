"""escrow instructions: loans' outbox of assignment instructions to escrow

``escrow_instructions`` holds what loans must tell escrow about a loan's assignment of
proceeds (``register`` on disbursement, ``close`` when the loan ends, ``refund`` of a refused
sweep), written in the transaction of the change and sent by the worker with the stored
Idempotency-Key. ``loan_products.sale_proceeds_share_bps`` is the share of each release a
loan of the product assigns to the lender; existing products get NULL (no share decided:
loans registers no assignment for their loans until a product with a share is used).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 14:00:00.000000

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: Union[str, Sequence[str], None] = "0011"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "escrow_instructions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("loan_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"], name=op.f("fk_escrow_instructions_loan_id_loans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escrow_instructions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_escrow_instructions_idempotency_key")),
    )
    op.create_index(
        "ix_escrow_instructions_status_next_attempt_at",
        "escrow_instructions",
        ["status", "next_attempt_at", "id"],
        unique=False,
    )
    op.create_index("ix_escrow_instructions_loan_id_id", "escrow_instructions", ["loan_id", "id"], unique=False)
    # plain ALTER TABLE on both backends (SQLite >= 3.35 drops columns natively): a batch
    # rebuild of loan_products would drop a table other tables' foreign keys point at
    op.add_column("loan_products", sa.Column("sale_proceeds_share_bps", sa.Integer(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column("loan_products", "sale_proceeds_share_bps")
    op.drop_index("ix_escrow_instructions_loan_id_id", table_name="escrow_instructions")
    op.drop_index("ix_escrow_instructions_status_next_attempt_at", table_name="escrow_instructions")
    op.drop_table("escrow_instructions")
