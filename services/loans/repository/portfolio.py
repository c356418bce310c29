"""SQL of the portfolio report: the loans a PAR report as of a date looks at."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.loans.repository.accounts import LOAN_VIEW_COLUMNS, LOANS


def loan_views(session: Session, ids: Sequence[str]) -> list[Any]:
    """The loan view of ``ids`` whatever their status, without locking (for reports)."""
    query = select(*(LOANS.c[name] for name in LOAN_VIEW_COLUMNS)).where(LOANS.c.id.in_(ids))
    return list(session.execute(query).all())


def par_loans(session: Session, *, as_of: date) -> list[Any]:
    """Loans that could have had principal outstanding on ``as_of`` (with their stored snapshot)."""
    c = LOANS.c
    query = (
        select(
            c.id,
            c.product_id,
            c.currency,
            c.state_as_of,
            c.principal_outstanding_minor,
            c.days_past_due,
        )
        .where(
            c.disbursed_on <= as_of,
            or_(c.status == "active", c.closed_on > as_of, c.written_off_on > as_of),
        )
        .order_by(c.id)
    )
    return list(session.execute(query).all())
