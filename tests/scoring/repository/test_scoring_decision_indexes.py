"""Every single filter of the decision explorer is served, in order, by an index (no sort, no table scan).

Asserted on the query plan, not on time: SQLite's ``EXPLAIN QUERY PLAN``; PostgreSQL's
``EXPLAIN`` with sequential scans and sorts priced out, so that the plan sorts or scans only
when no index can give the rows in the explorer's order. (Timings over 100,000 decisions are
a benchmark's business, not a test's.)
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from services.scoring.repository.decisions import DecisionFilter, decisions_query
from services.scoring.settings import ScoringContext

MARCH = datetime(2026, 3, 1, tzinfo=UTC)
FILTERS = {
    "none": (DecisionFilter(), "ix_scoring_decisions_created"),
    "segment": (DecisionFilter(segment="farmer"), "ix_scoring_decisions_segment_created"),
    "subject": (DecisionFilter(subject_id="farmer-1"), "ix_scoring_decisions_subject_created"),
    "model_version": (DecisionFilter(model_version="farmer-v1"), "ix_scoring_decisions_model_created"),
    "decision_hint": (DecisionFilter(decision_hint="approve"), "ix_scoring_decisions_hint_created"),
    "scored_from": (DecisionFilter(scored_from=MARCH), "ix_scoring_decisions_created"),
    "window": (
        DecisionFilter(scored_from=MARCH, scored_to=datetime(2026, 4, 1, tzinfo=UTC)),
        "ix_scoring_decisions_created",
    ),
}


def _plan(session: Session, where: DecisionFilter) -> list[str]:
    bind = session.get_bind()
    query = decisions_query(where).limit(50).offset(5000)
    sql = str(query.compile(bind, compile_kwargs={"literal_binds": True}))
    if bind.dialect.name == "sqlite":
        return [str(row[-1]) for row in session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
    session.execute(text("SET LOCAL enable_seqscan = off"))
    session.execute(text("SET LOCAL enable_sort = off"))
    session.execute(text("SET LOCAL enable_bitmapscan = off"))
    return [str(row[0]) for row in session.execute(text(f"EXPLAIN {sql}"))]


@pytest.mark.parametrize("name", FILTERS)
def test_a_page_is_read_from_an_index_in_order(ctx: ScoringContext, name: str) -> None:
    where, index = FILTERS[name]
    with ctx.db.unit_of_work(read_only=True) as session:
        plan = _plan(session, where)
    text_plan = "\n".join(plan)
    assert index in text_plan, text_plan
    assert "TEMP B-TREE" not in text_plan, text_plan  # SQLite: no sort of the rows, not even of ties
    assert not any(line.lstrip(" ->").startswith(("Sort", "Incremental Sort")) for line in plan), text_plan
    assert not any(line.startswith("SCAN scoring_decisions") and "INDEX" not in line for line in plan), (
        text_plan
    )
