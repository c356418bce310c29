"""The business date loans run on: read it, refuse dates after it, move it forward (bounded
per request), and correct it (proposed by one admin, confirmed by another); every change is
audited. The rules are the domain's (``domain.business_date``); a correction's proposer and
confirmer are compared as persons (``Principal.identity``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from services.loans.domain.business_date import (
    BusinessDateRefused,
    Signer,
    check_correction,
    check_move,
    check_second_person,
)
from services.loans.models import BusinessDateCorrection
from services.loans.repository import business_date as repo
from services.loans.repository import cob
from services.loans.settings import LoansContext
from shared.auth import Principal
from shared.changes import new_id, record_change
from shared.errors import Conflict, NotFound, ValidationProblem

CORRECTION_ACTIONS = ("confirm",)
"""What a proposed correction allows (a confirmed one allows nothing)."""


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


def _refusal(exc: BusinessDateRefused, *, current: date) -> Conflict | ValidationProblem:
    if exc.conflict:
        return Conflict(str(exc), current_state=current.isoformat())
    return ValidationProblem([("date", str(exc))])


def _move(
    session: Session, ctx: LoansContext, *, actor: str, previous: date, value: date, **extra: Any
) -> None:
    repo.save_business_date(session, value=value, now=ctx.clock.now(), actor=actor)
    record_change(
        session,
        ctx,
        actor=actor,
        action="loan.business_date_changed",
        subject="business-date",
        payload={"from": previous.isoformat(), "to": value.isoformat(), **extra},
    )


def set_business_date(session: Session, ctx: LoansContext, *, actor: str, value: date) -> dict[str, Any]:
    """Move the business date forward, by at most the configured days (never before a closed date)."""
    stored = repo.stored_business_date(session, lock=True)
    previous = business_date(session, ctx)
    try:
        check_move(
            current=previous,
            target=value,
            last_closed=cob.latest_cob_date(session),
            max_forward_days=ctx.settings.business_date_max_forward_days,
            first=stored is None,
        )
    except BusinessDateRefused as exc:
        raise _refusal(exc, current=previous) from None
    _move(session, ctx, actor=actor, previous=previous, value=value)
    return business_date_view(session, ctx)


def propose_correction(
    session: Session, ctx: LoansContext, *, who: Principal, value: date, reason: str
) -> BusinessDateCorrection:
    """Propose correcting the business date to ``value``; a second admin confirms it."""
    current = business_date(session, ctx)
    try:
        check_correction(
            current=current,
            target=value,
            last_closed=cob.latest_cob_date(session),
            max_forward_days=ctx.settings.business_date_max_forward_days,
        )
    except BusinessDateRefused as exc:
        raise _refusal(exc, current=current) from None
    correction = repo.add_correction(
        session,
        BusinessDateCorrection(
            id=new_id(),
            status="proposed",
            from_date=current,
            to_date=value,
            reason=reason,
            proposed_by=who.actor,
            proposed_key_id=who.key_id,
            proposed_identity=who.identity,
            proposed_at=ctx.clock.now(),
        ),
    )
    record_change(
        session,
        ctx,
        actor=who.actor,
        action="loan.business_date_correction_proposed",
        subject=f"business-date-correction:{correction.id}",
        payload={"id": correction.id, "from": current.isoformat(), "to": value.isoformat(), "reason": reason},
        event=False,
    )
    return correction


def confirm_correction(
    session: Session, ctx: LoansContext, *, who: Principal, correction_id: str
) -> BusinessDateCorrection:
    """Confirm a proposed correction (a different admin): the business date moves to it."""
    repo.stored_business_date(session, lock=True)
    correction = repo.get_correction(session, correction_id, lock=True)
    if correction is None:
        raise NotFound(f"business date correction {correction_id} not found")
    if correction.status != "proposed":
        raise Conflict(
            f"the correction is already {correction.status}",
            current_state=correction.status,
            allowed_actions=[],
        )
    current = business_date(session, ctx)
    if current != correction.from_date:
        raise Conflict(
            f"the business date moved to {current.isoformat()} since the correction was proposed "
            f"(from {correction.from_date.isoformat()}); propose it again",
            current_state=current.isoformat(),
        )
    try:
        check_second_person(proposer=Signer(correction.proposed_identity), confirmer=Signer(who.identity))
        check_correction(
            current=current,
            target=correction.to_date,
            last_closed=cob.latest_cob_date(session),
            max_forward_days=ctx.settings.business_date_max_forward_days,
        )
    except BusinessDateRefused as exc:
        raise _refusal(exc, current=current) from None
    correction.status = "confirmed"
    correction.confirmed_by, correction.confirmed_key_id = who.actor, who.key_id
    correction.confirmed_identity = who.identity
    correction.confirmed_at = ctx.clock.now()
    _move(
        session,
        ctx,
        actor=who.actor,
        previous=current,
        value=correction.to_date,
        correction_id=correction.id,
        proposed_by=correction.proposed_by,
        reason=correction.reason,
    )
    return correction


def list_corrections(session: Session, *, limit: int) -> Sequence[BusinessDateCorrection]:
    """The latest corrections of the business date, newest first."""
    return repo.list_corrections(session, limit=limit)
