"""SQL for stored decisions (``scoring_decisions``) and shadow scores."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
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


def list_decisions(
    session: Session, *, subject_id: str | None, segment: str | None, limit: int, offset: int
) -> Sequence[Decision]:
    """Decisions, newest first, optionally for one subject or segment."""
    query = select(Decision).order_by(Decision.created_at.desc(), Decision.id)
    if subject_id is not None:
        query = query.where(Decision.subject_id == subject_id)
    if segment is not None:
        query = query.where(Decision.segment == segment)
    return session.scalars(query.limit(limit).offset(offset)).all()


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
