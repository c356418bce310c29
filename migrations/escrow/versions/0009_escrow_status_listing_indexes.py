"""escrow status listing indexes

``GET /v1/escrows`` newest first is an index walk since 0006: (owner, created_at, id) for a
marketplace's own, (created_at, id) for everyone's. Filtered by status (the console's
operations list: disputed, delivered, ...), both walked every escrow of other statuses
before the limit was reached; (status, created_at, id) and (owner, status, created_at, id)
make that filter an index range in the listing's order too (issue 13).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 16:45:00.000000

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("escrows", schema=None) as batch_op:
        batch_op.create_index("ix_escrows_status_created_at", ["status", "created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_escrows_owner_status_created_at", ["owner", "status", "created_at", "id"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("escrows", schema=None) as batch_op:
        batch_op.drop_index("ix_escrows_owner_status_created_at")
        batch_op.drop_index("ix_escrows_status_created_at")
