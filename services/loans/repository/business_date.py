"""SQL for the business date (one row, absent until an admin sets it)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.loans.models import BusinessDate

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
