"""assignment refunds

A sweep that raced a loan's final repayment over-pays it; loans refuses the surplus and
escrow refunds it to the seller (issue 11 §3, ``POST /v1/assignments/{id}/refunds``):

* ``assignment_refunds``: one row per refund, unique per (assignment, reference);
* ``proceeds_assignments.refunded_minor``: what of ``swept_minor`` has been refunded (0 for
  every assignment before this revision), never more than was swept;
* ``assignment_sweeps.event_id``: the ``assignment.swept`` event a sweep produced (NULL for
  sweeps recorded before this revision), so loans can match its repayments to sweeps.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 13:49:16.487971

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
        "assignment_refunds",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("assignment_id", sa.String(length=36), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("entry_ref", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_assignment_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["proceeds_assignments.id"],
            name=op.f("fk_assignment_refunds_assignment_id_proceeds_assignments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment_refunds")),
        sa.UniqueConstraint(
            "assignment_id", "reference", name="uq_assignment_refunds_assignment_id_reference"
        ),
    )
    with op.batch_alter_table("assignment_sweeps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_id", sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f("ix_assignment_sweeps_event_id"), ["event_id"], unique=False)

    with op.batch_alter_table("proceeds_assignments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("refunded_minor", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.create_check_constraint(
            op.f("ck_proceeds_assignments_refunded_within_swept"),
            "refunded_minor >= 0 AND refunded_minor <= swept_minor",
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("proceeds_assignments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_proceeds_assignments_refunded_within_swept"), type_="check")
        batch_op.drop_column("refunded_minor")

    with op.batch_alter_table("assignment_sweeps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignment_sweeps_event_id"))
        batch_op.drop_column("event_id")

    op.drop_table("assignment_refunds")
