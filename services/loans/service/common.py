"""What every loans use case needs: the business date, audit + outbox in one call, ids."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from services.loans.repository import catalog
from shared.audit import append_audit
from shared.errors import ValidationProblem
from shared.platform import ServiceContext
from shared.webhooks import emit_event

SYSTEM_ACTOR = "system:loans"


def new_id() -> str:
    """A fresh record id."""
    return str(uuid.uuid4())


def business_date(session: Session, ctx: ServiceContext) -> date:
    """The date loans run on: the stored business date, else the clock's UTC date."""
    row = catalog.stored_business_date(session)
    return row.business_date if row is not None else ctx.clock.now().date()


def record_change(
    session: Session,
    ctx: ServiceContext,
    *,
    actor: str,
    action: str,
    subject: str,
    payload: dict[str, Any],
) -> None:
    """One audit entry and one outbox event (topic = action) in the caller's transaction."""
    now = ctx.clock.now()
    append_audit(
        session,
        ctx.tables,
        ctx.keyring,
        actor=actor,
        action=action,
        subject=subject,
        payload=payload,
        now=now,
    )
    emit_event(session, ctx.tables, topic=action, subject=subject, data=payload, now=now)


def check_not_after_business_date(session: Session, ctx: ServiceContext, *, field: str, value: date) -> date:
    """Refuse a date later than the business date (loans never book the future)."""
    today = business_date(session, ctx)
    if value > today:
        raise ValidationProblem(
            [(field, f"{value.isoformat()} is after the business date {today.isoformat()}")]
        )
    return today


def domain_problem(exc: ValueError, field: str = "body") -> ValidationProblem:
    """A domain ``ValueError`` as a 422 problem."""
    return ValidationProblem([(field, str(exc))])
