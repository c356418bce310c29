"""SQL for loan applications."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.loans.domain.lifecycle import ApplicationStatus
from services.loans.models import Application


def get_application(session: Session, application_id: str, *, lock: bool = False) -> Application | None:
    """An application by id; ``lock`` takes its row lock (PostgreSQL) for a state change."""
    query = select(Application).where(Application.id == application_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def list_applications(
    session: Session,
    *,
    status: str | None,
    borrower_id: str | None,
    limit: int,
    offset: int,
) -> Sequence[Application]:
    """Applications, newest first, optionally filtered."""
    query = select(Application).order_by(Application.submitted_at.desc(), Application.id)
    if status is not None:
        query = query.where(Application.status == status)
    if borrower_id is not None:
        query = query.where(Application.borrower_id == borrower_id)
    return session.scalars(query.limit(limit).offset(offset)).all()


def due_for_scoring(session: Session, *, now: datetime, limit: int) -> list[str]:
    """Ids of ``pending_score`` applications whose next scoring attempt is due."""
    query = (
        select(Application.id)
        .where(
            Application.status == ApplicationStatus.PENDING_SCORE.value,
            Application.next_score_attempt_at <= now,
        )
        .order_by(Application.next_score_attempt_at, Application.id)
        .limit(limit)
    )
    return list(session.scalars(query).all())
