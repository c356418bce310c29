"""The business date: read it, move it (audited; never back before a closed date)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from services.loans.repository import catalog
from services.loans.service.common import business_date, record_change
from shared.errors import Conflict
from shared.platform import ServiceContext


def business_date_view(session: Session, ctx: ServiceContext) -> dict[str, Any]:
    """The business date, where it comes from, and the latest closed date."""
    stored = catalog.stored_business_date(session)
    latest = catalog.latest_cob_date(session)
    return {
        "date": business_date(session, ctx),
        "source": "set" if stored is not None else "clock",
        "last_cob_date": latest,
    }


def set_business_date(session: Session, ctx: ServiceContext, *, actor: str, value: date) -> dict[str, Any]:
    """Move the business date; a date before the latest close of business is refused."""
    latest = catalog.latest_cob_date(session)
    if latest is not None and value < latest:
        raise Conflict(
            f"close of business already ran for {latest.isoformat()}; the business date cannot "
            "move before it",
            current_state=latest.isoformat(),
        )
    previous = business_date(session, ctx)
    catalog.save_business_date(session, value=value, now=ctx.clock.now(), actor=actor)
    record_change(
        session,
        ctx,
        actor=actor,
        action="loan.business_date_changed",
        subject="business-date",
        payload={"from": previous.isoformat(), "to": value.isoformat()},
    )
    return business_date_view(session, ctx)
