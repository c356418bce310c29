"""The business date loans run on: read it, refuse dates after it, move it (audited; never
back before a closed date)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from services.loans.repository import business_date as repo
from services.loans.repository import cob
from services.loans.settings import LoansContext
from shared.changes import record_change
from shared.errors import Conflict, ValidationProblem


def business_date(session: Session, ctx: LoansContext) -> date:
    """The date loans run on: the stored business date, else the clock's UTC date."""
    row = repo.stored_business_date(session)
    return row.business_date if row is not None else ctx.clock.now().date()


def check_not_after_business_date(session: Session, ctx: LoansContext, *, field: str, value: date) -> date:
    """Refuse a date later than the business date (loans never book the future)."""
    today = business_date(session, ctx)
    if value > today:
        raise ValidationProblem(
            [(field, f"{value.isoformat()} is after the business date {today.isoformat()}")]
        )
    return today


def business_date_view(session: Session, ctx: LoansContext) -> dict[str, Any]:
    """The business date, where it comes from, and the latest closed date."""
    stored = repo.stored_business_date(session)
    latest = cob.latest_cob_date(session)
    return {
        "date": business_date(session, ctx),
        "source": "set" if stored is not None else "clock",
        "last_cob_date": latest,
    }


def set_business_date(session: Session, ctx: LoansContext, *, actor: str, value: date) -> dict[str, Any]:
    """Move the business date; a date before the latest close of business is refused."""
    latest = cob.latest_cob_date(session)
    if latest is not None and value < latest:
        raise Conflict(
            f"close of business already ran for {latest.isoformat()}; the business date cannot "
            "move before it",
            current_state=latest.isoformat(),
        )
    previous = business_date(session, ctx)
    repo.save_business_date(session, value=value, now=ctx.clock.now(), actor=actor)
    record_change(
        session,
        ctx,
        actor=actor,
        action="loan.business_date_changed",
        subject="business-date",
        payload={"from": previous.isoformat(), "to": value.isoformat()},
    )
    return business_date_view(session, ctx)
