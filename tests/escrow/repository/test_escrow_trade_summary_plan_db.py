"""The trade summary is one query reading the seller's escrows through (seller_id, created_at)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.escrow.repository.parties import trade_summary_query
from shared.platform import ServiceContext
from tests.escrow.kit import EscrowApi

INDEX = "ix_escrows_seller_id_created_at"


def _plan(session: Session) -> list[str]:
    """The database's plan for one seller's summary, one line per step."""
    dialect = session.get_bind().dialect
    query = trade_summary_query(
        "seller-1", start=datetime(2025, 3, 2, tzinfo=UTC), end=datetime(2026, 3, 2, tzinfo=UTC)
    )
    sql = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    if dialect.name == "sqlite":
        return [str(row[3]) for row in session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
    # Few rows make a sequential scan cheapest; forbid it to see whether the index serves the window.
    session.execute(text("SET LOCAL enable_seqscan = off"))
    return [str(row[0]) for row in session.execute(text(f"EXPLAIN {sql}"))]


def test_the_summary_reads_the_seller_window_index(api: EscrowApi, ctx: ServiceContext) -> None:
    for seller in ("seller-1", "seller-2", "seller-1"):
        api.fund(str(api.create(seller_id=seller)["id"]))
    with ctx.db.unit_of_work(read_only=True) as session:
        plan = _plan(session)
    assert any(INDEX in step for step in plan), plan
    assert not any("SCAN escrows" in step or "Seq Scan on escrows" in step for step in plan), plan
