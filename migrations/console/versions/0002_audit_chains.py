"""audit chains: partition chains anchored into the service chain (issue #13)

``audit_log`` gets ``chain`` and ``chain_seq``, unique together: every entry written before
this revision is chain 0, the service-wide chain, at ``chain_seq = seq`` (its hashed material
is unchanged, so it verifies as before); new entries go to partition chains 1..P
(``shared.audit``). ``seq`` stays the service-wide order but no longer needs the chain's
lock: on PostgreSQL a sequence owned by the column (``audit_log_seq_seq``) numbers it,
starting after the highest existing ``seq``; on SQLite it is the rowid.

Downgrade refuses while partition entries exist: the single chain of the previous revision
cannot hold them (they would fail its verification), and deleting them would lose audit
records.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 16:50:00.000000

"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: Union[str, Sequence[str], None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

SEQUENCE = "audit_log_seq_seq"


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("chain_seq", sa.BigInteger(), nullable=True))
    op.execute("UPDATE audit_log SET chain = 0, chain_seq = seq")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("chain", existing_type=sa.SmallInteger(), nullable=False)
        batch_op.alter_column("chain_seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_unique_constraint("uq_audit_log_chain_chain_seq", ["chain", "chain_seq"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE SEQUENCE {SEQUENCE} OWNED BY audit_log.seq")
        op.execute(f"SELECT setval('{SEQUENCE}', COALESCE((SELECT max(seq) FROM audit_log), 0) + 1, false)")
        op.execute(f"ALTER TABLE audit_log ALTER COLUMN seq SET DEFAULT nextval('{SEQUENCE}')")


def downgrade() -> None:
    """Downgrade schema."""
    partitioned = op.get_bind().execute(sa.text("SELECT count(*) FROM audit_log WHERE chain <> 0")).scalar()
    if partitioned:
        raise RuntimeError(
            f"audit_log holds {partitioned} entries of partition chains; the previous revision's "
            "single chain cannot hold them, and deleting them would lose audit records"
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_log ALTER COLUMN seq DROP DEFAULT")
        op.execute(f"DROP SEQUENCE {SEQUENCE}")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_log_chain_chain_seq", type_="unique")
        batch_op.drop_column("chain_seq")
        batch_op.drop_column("chain")
