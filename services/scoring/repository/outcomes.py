"""SQL for loan outcomes (``scoring_outcomes``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from services.scoring.models import Decision, Outcome
from shared.db import insert_if_absent


def add_outcome(session: Session, outcome: Outcome) -> bool:
    """Insert an outcome; False (nothing written) when the decision already has that outcome.

    One ``INSERT ... ON CONFLICT (score_id, outcome) DO NOTHING RETURNING``, no savepoint: a
    concurrent delivery of the same outcome waits for the first transaction, then inserts nothing."""
    values = {c.key: getattr(outcome, c.key) for c in _OUTCOMES.columns if c.key != "id"}
    add = insert_if_absent(_OUTCOMES, session.get_bind().dialect.name, ("score_id", "outcome"), ("id",))
    return session.execute(add, values).first() is not None


_OUTCOMES: Table = Outcome.__table__  # type: ignore[assignment]


def outcomes_of(session: Session, score_id: str) -> list[Outcome]:
    """A decision's outcomes, in the order they occurred."""
    query = select(Outcome).where(Outcome.score_id == score_id)
    return list(session.scalars(query.order_by(Outcome.occurred_on, Outcome.id)))


@dataclass(frozen=True)
class ScoredRow:
    """A decision's monitoring facts and one of its outcomes (``outcome`` None: it has none)."""

    score_id: str
    grade: str
    pd: float
    decision_hint: str
    monitoring_group: str | None
    outcome: str | None
    occurred_on: date | None
    disbursed_on: date | None


def scored_with_outcomes(
    session: Session, *, segment: str, model_version: str | None, scored_before: datetime, limit: int
) -> list[ScoredRow]:
    """The segment's decisions (of one model version when given) made before ``scored_before``,
    at most ``limit`` of the newest, each joined with each of its outcomes."""
    decisions = (
        select(Decision.id)
        .where(Decision.segment == segment, Decision.created_at < scored_before)
        .order_by(Decision.created_at.desc(), Decision.id.desc())
        .limit(limit)
    )
    if model_version is not None:
        decisions = decisions.where(Decision.model_version == model_version)
    query = (
        select(
            Decision.id,
            Decision.grade,
            Decision.pd,
            Decision.decision_hint,
            Decision.monitoring_group,
            Outcome.outcome,
            Outcome.occurred_on,
            Outcome.disbursed_on,
        )
        .outerjoin(Outcome, Outcome.score_id == Decision.id)
        .where(Decision.id.in_(decisions.scalar_subquery()))
        .order_by(Decision.id, Outcome.id)
    )
    return [ScoredRow(*row) for row in session.execute(query).all()]
