"""Repayment from sale proceeds: escrow tells loans, by a signed event, that part of a
release was swept to the lender under an assignment of proceeds (``assignment.swept``).

The event's ``loan_ref`` is the loan id. The sweep becomes a ``sale_proceeds`` repayment
whose ``external_id`` is the escrow event id, so a redelivered event (at-least-once) finds
the same transaction instead of paying twice; the inbox records each event id once.

A sweep larger than what the loan still owes (``domain.repayment_limit``, with no overpayment
tolerance: a sweep is never kept as an overpayment) is applied up to that amount; the rest is
refused — recorded as ``loan.sweep_refused`` (audited, and an event), never applied — and a
``refund`` instruction to escrow gives it back to the seller (``service.escrow_instructions``,
sent by the worker). The delivery is acknowledged (200) so escrow does not redeliver it forever.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from services.loans.domain.repayment_limit import RepaymentSplit, split_repayment
from services.loans.service import accounts
from services.loans.service.business_date import business_date
from services.loans.service.escrow_instructions import refund_refused_sweep
from services.loans.settings import LoansContext
from shared.auth import Principal, Role
from shared.changes import record_change
from shared.errors import ValidationProblem
from shared.webhooks import record_inbox

ESCROW_SOURCE = "escrow"
SWEPT_TOPIC = "assignment.swept"
ESCROW_PRINCIPAL = Principal(key_id="webhook:escrow", role=Role.SERVICE, owner="escrow")


def apply_escrow_event(session: Session, ctx: LoansContext, *, event: dict[str, Any]) -> dict[str, Any]:
    """Handle one verified escrow event; answer what was done (for the delivery log)."""
    event_id, topic = str(event.get("id", "")), str(event.get("topic", ""))
    if not event_id or not topic:
        raise ValidationProblem([("id", "an event needs an id and a topic")])
    if topic != SWEPT_TOPIC:
        return {"event_id": event_id, "result": "ignored", "topic": topic}
    data = event.get("data") or {}
    loan_id, amount, currency = data.get("loan_ref"), data.get("amount_minor"), data.get("currency")
    if not isinstance(loan_id, str) or not isinstance(amount, int) or amount <= 0:
        raise ValidationProblem([("data", "assignment.swept needs loan_ref and a positive amount_minor")])
    if not record_inbox(
        session, ctx.tables, event_id=event_id, source=ESCROW_SOURCE, topic=topic, now=ctx.clock.now()
    ):
        return {"event_id": event_id, "result": "duplicate"}
    loan = accounts.require_loan(session, loan_id, lock=True)
    if currency != loan.currency:
        raise ValidationProblem([("data.currency", f"{currency} does not match the loan's {loan.currency}")])
    on: date = business_date(session, ctx)
    # a loan not yet disbursed on the booking date takes nothing: the sweep is refused, not a 422
    booked = loan.disbursed_on is not None and loan.disbursed_on <= on
    acceptable = accounts.acceptable_repayment(session, ctx, loan, tolerance_minor=0) if booked else 0
    split = split_repayment(amount, acceptable_minor=acceptable)
    outcome: dict[str, Any] = {"event_id": event_id, "loan_id": loan_id}
    if split.refused_minor:
        _record_refused_sweep(session, ctx, event_id=event_id, loan_id=loan_id, data=data, split=split)
        outcome.update(refused_minor=split.refused_minor, accepted_minor=split.accepted_minor)
    if split.accepted_minor == 0:
        return {**outcome, "result": "refused_overpayment"}
    posted, _ = accounts.post_repayment(
        session,
        ctx,
        who=ESCROW_PRINCIPAL,
        loan_id=loan_id,
        amount_minor=split.accepted_minor,
        on=on,
        external_id=f"escrow:{event_id}",
        source="sale_proceeds",
        acceptable_minor=acceptable,
    )
    return {**outcome, "result": "repayment_posted", "transaction_id": posted.transaction.id}


def _record_refused_sweep(
    session: Session,
    ctx: LoansContext,
    *,
    event_id: str,
    loan_id: str,
    data: dict[str, Any],
    split: RepaymentSplit,
) -> None:
    """Record (audit and event, nothing applied) the part of a sweep the loan does not owe, and
    instruct escrow to refund it to the seller."""
    assignment_id = data.get("assignment_id")
    if isinstance(assignment_id, str) and assignment_id:
        refund_refused_sweep(
            session,
            ctx,
            loan_id=loan_id,
            event_id=event_id,
            assignment_id=assignment_id,
            currency=str(data.get("currency")),
            refused_minor=split.refused_minor,
        )
    record_change(
        session,
        ctx,
        actor=ESCROW_PRINCIPAL.actor,
        action="loan.sweep_refused",
        subject=f"loan:{loan_id}",
        payload={
            "loan_id": loan_id,
            "event_id": event_id,
            "assignment_id": data.get("assignment_id"),
            "currency": data.get("currency"),
            "swept_minor": split.accepted_minor + split.refused_minor,
            "accepted_minor": split.accepted_minor,
            "refused_minor": split.refused_minor,
        },
    )
