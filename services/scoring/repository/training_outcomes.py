"""SQL for training from outcomes: a segment's decisions joined with the outcomes loans reported."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.scoring.models import Decision, Outcome


@dataclass(frozen=True)
class DecisionOutcome:
    """One outcome of a decision, with the decision's stored features (canonical JSON)."""

    score_id: str
    features: str
    outcome: str
    occurred_on: date
    disbursed_on: date


def count_decisions(session: Session, *, segment: str, scored_before: datetime) -> int:
    """How many decisions of ``segment`` were made before ``scored_before``."""
    query = select(func.count()).where(Decision.segment == segment, Decision.created_at < scored_before)
    return int(session.scalar(query.select_from(Decision)) or 0)


def decision_outcomes(session: Session, *, segment: str, scored_before: datetime) -> list[DecisionOutcome]:
    """Every outcome of the decisions of ``segment`` made before ``scored_before``, with their features."""
    query = (
        select(Decision.id, Decision.features, Outcome.outcome, Outcome.occurred_on, Outcome.disbursed_on)
        .join(Outcome, Outcome.score_id == Decision.id)
        .where(Decision.segment == segment, Decision.created_at < scored_before)
        .order_by(Decision.id, Outcome.id)
    )
    return [DecisionOutcome(*row) for row in session.execute(query).all()]
