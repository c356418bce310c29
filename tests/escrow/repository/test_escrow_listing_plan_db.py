"""GET /v1/escrows reads an index in order (issue 13): no scan and sort of every escrow.

The listing is newest first, a marketplace's own (``owner``) or everyone's (auditors), with or
without the status filter the console's operations list uses; each has an index whose order is
the listing's, so the database walks it and stops at the limit.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from services.escrow.repository.escrows import EscrowFilter, escrow_listing
from shared.platform import ServiceContext
from tests.escrow.kit import EscrowApi


def _plan(session: Session, where: EscrowFilter) -> list[str]:
    """The database's plan for the listing, one line per step."""
    dialect = session.get_bind().dialect
    sql = str(
        escrow_listing(where, limit=20).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    )
    if dialect.name == "sqlite":
        return [str(row[3]) for row in session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
    # Few rows make a sequential scan cheapest; forbid it to see whether an index serves the order.
    session.execute(text("SET LOCAL enable_seqscan = off"))
    return [str(row[0]) for row in session.execute(text(f"EXPLAIN {sql}"))]


@pytest.mark.parametrize(
    ("owner", "status", "index"),
    [
        ("shop-1", None, "ix_escrows_owner_created_at"),
        (None, None, "ix_escrows_created_at"),
        ("shop-1", "disputed", "ix_escrows_owner_status_created_at"),
        (None, "disputed", "ix_escrows_status_created_at"),
    ],
)
def test_the_listing_walks_an_index_in_its_order(
    api: EscrowApi, ctx: ServiceContext, owner: str | None, status: str | None, index: str
) -> None:
    for key in ("market", "market2", "market"):
        api.create(key=key)
    with ctx.db.unit_of_work(read_only=True) as session:
        plan = _plan(session, EscrowFilter(owner=owner, status=status))
    assert any(index in step for step in plan), plan
    assert not any("TEMP B-TREE" in step or "Sort" in step for step in plan), plan
