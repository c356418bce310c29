"""Performance report: a segment's decisions (optionally one model version) and the outcomes
loans reported for them, computed by ``domain.performance`` as of a date.

Decisions made up to the end of ``as_of`` (UTC) count, at most ``monitoring_max_rows`` of the
newest; outcomes that occurred after ``as_of`` are not known yet.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from services.scoring.domain.performance import ScoredLoan, performance_report
from services.scoring.repository import outcomes as repo
from services.scoring.settings import ScoringContext


def segment_performance(
    session: Session, ctx: ScoringContext, *, segment: str, model_version: str | None, as_of: date | None
) -> dict[str, Any]:
    """The performance report of ``segment`` (and ``model_version``) as of ``as_of`` (default: today)."""
    as_of = as_of or ctx.clock.now().astimezone(UTC).date()
    scored_before = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=UTC)
    rows = repo.scored_with_outcomes(
        session,
        segment=segment,
        model_version=model_version,
        scored_before=scored_before,
        limit=ctx.settings.monitoring_max_rows,
    )
    loans: dict[str, ScoredLoan] = {}
    for row in rows:
        loan = loans.get(row.score_id) or ScoredLoan(
            score_id=row.score_id,
            grade=row.grade,
            pd=row.pd,
            decision_hint=row.decision_hint,
            monitoring_group=row.monitoring_group,
            disbursed_on=row.disbursed_on,
            outcomes={},
        )
        if row.outcome is not None and row.occurred_on is not None:
            loan = replace(loan, outcomes={**loan.outcomes, row.outcome: row.occurred_on})
        loans[row.score_id] = loan
    return {
        "segment": segment,
        "model_version": model_version,
        **performance_report(list(loans.values()), as_of),
    }
