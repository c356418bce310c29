"""SQL for the business date (one row, absent until an admin sets it) and its corrections."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.loans.models import BusinessDate, BusinessDateCorrection

_BUSINESS_DATE_ROW = 1


def stored_business_date(session: Session, *, lock: bool = False) -> BusinessDate | None:
    """The stored business date row, if one was ever set."""
    query = select(BusinessDate).where(BusinessDate.id == _BUSINESS_DATE_ROW)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def save_business_date(session: Session, *, value: date, now: datetime, actor: str) -> None:
    """Insert or move the business date."""
    row = stored_business_date(session, lock=True)
    if row is None:
        session.add(
            BusinessDate(id=_BUSINESS_DATE_ROW, business_date=value, updated_at=now, updated_by=actor)
        )
    else:
        row.business_date, row.updated_at, row.updated_by = value, now, actor
    session.flush()


def add_correction(session: Session, correction: BusinessDateCorrection) -> BusinessDateCorrection:
    """Store a proposed correction."""
    session.add(correction)
    session.flush()
    return correction


def get_correction(
    session: Session, correction_id: str, *, lock: bool = False
) -> BusinessDateCorrection | None:
    """A correction by id."""
    query = select(BusinessDateCorrection).where(BusinessDateCorrection.id == correction_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def list_corrections(session: Session, *, limit: int) -> Sequence[BusinessDateCorrection]:
    """The latest corrections, newest first."""
    query = select(BusinessDateCorrection).order_by(
        BusinessDateCorrection.proposed_at.desc(), BusinessDateCorrection.id
    )
    return session.scalars(query.limit(limit)).all()
