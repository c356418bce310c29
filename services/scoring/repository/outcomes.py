"""SQL for loan outcomes (``scoring_outcomes``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.scoring.models import Outcome


def add_outcome(session: Session, outcome: Outcome) -> bool:
    """Insert an outcome; False (nothing written) when the decision already has that outcome."""
    try:
        with session.begin_nested():
            session.add(outcome)
            session.flush()
    except IntegrityError:
        return False
    return True


def outcomes_of(session: Session, score_id: str) -> list[Outcome]:
    """A decision's outcomes, in the order they occurred."""
    query = select(Outcome).where(Outcome.score_id == score_id)
    return list(session.scalars(query.order_by(Outcome.occurred_on, Outcome.id)))
