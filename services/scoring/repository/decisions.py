"""SQL for stored decisions (``scoring_decisions``) and shadow scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from services.scoring.models import Decision, ShadowScore


def add_decision(session: Session, decision: Decision, shadows: Sequence[ShadowScore] = ()) -> None:
    """Insert a decision and its shadow scores."""
    session.add(decision)
    session.flush()
    if shadows:
        session.add_all(shadows)
        session.flush()


def get_decision(session: Session, decision_id: str) -> Decision | None:
    """A decision by id."""
    return session.get(Decision, decision_id)


@dataclass(frozen=True)
class DecisionFilter:
    """What the decision explorer narrows to (None: any); ``scored_from`` inclusive,
    ``scored_to`` exclusive."""

    subject_id: str | None = None
    segment: str | None = None
    model_version: str | None = None
    decision_hint: str | None = None
    scored_from: datetime | None = None
    scored_to: datetime | None = None


def decisions_query(where: DecisionFilter) -> Select[Decision]:
    """Decisions narrowed by ``where``, newest first (``created_at, id`` descending, the order
    the ``ix_scoring_decisions_*`` indexes serve)."""
    query = select(Decision).order_by(Decision.created_at.desc(), Decision.id.desc())
    for column, value in (
        (Decision.subject_id, where.subject_id),
        (Decision.segment, where.segment),
        (Decision.model_version, where.model_version),
        (Decision.decision_hint, where.decision_hint),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.scored_from is not None:
        query = query.where(Decision.created_at >= where.scored_from)
    if where.scored_to is not None:
        query = query.where(Decision.created_at < where.scored_to)
    return query


def list_decisions(session: Session, where: DecisionFilter, *, limit: int, offset: int) -> Sequence[Decision]:
    """A page of :func:`decisions_query`."""
    return session.scalars(decisions_query(where).limit(limit).offset(offset)).all()


def decisions_since(
    session: Session, *, segment: str, since: datetime, limit: int
) -> Sequence[tuple[str, str, str | None]]:
    """``(features JSON, decision_hint, monitoring_group)`` of recent decisions, newest first."""
    query = (
        select(Decision.features, Decision.decision_hint, Decision.monitoring_group)
        .where(Decision.segment == segment, Decision.created_at >= since)
        .order_by(Decision.created_at.desc())
        .limit(limit)
    )
    return [(row[0], row[1], row[2]) for row in session.execute(query).all()]


def shadow_scores(session: Session, decision_id: str) -> Sequence[ShadowScore]:
    """The shadow scores recorded beside a decision."""
    query = (
        select(ShadowScore)
        .where(ShadowScore.decision_id == decision_id)
        .order_by(ShadowScore.challenger_version)
    )
    return session.scalars(query).all()
