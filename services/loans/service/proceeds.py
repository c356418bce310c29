"""Repayment from sale proceeds: escrow tells loans, by a signed event, that part of a
release was swept to the lender under an assignment of proceeds (``assignment.swept``).

The event's ``loan_ref`` is the loan id. The sweep becomes a ``sale_proceeds`` repayment
whose ``external_id`` is the escrow event id, so a redelivered event (at-least-once) finds
the same transaction instead of paying twice; the inbox records each event id once.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from services.loans.service import accounts
from services.loans.service.business_date import business_date
from services.loans.settings import LoansContext
from shared.auth import Principal, Role
from shared.errors import ValidationProblem
from shared.webhooks import record_inbox

ESCROW_SOURCE = "escrow"
SWEPT_TOPIC = "assignment.swept"
ESCROW_PRINCIPAL = Principal(key_id="webhook:escrow", role=Role.SERVICE, owner=None)


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
    posted, _ = accounts.post_repayment(
        session,
        ctx,
        who=ESCROW_PRINCIPAL,
        loan_id=loan_id,
        amount_minor=amount,
        on=on,
        external_id=f"escrow:{event_id}",
        source="sale_proceeds",
    )
    return {
        "event_id": event_id,
        "result": "repayment_posted",
        "transaction_id": posted.transaction.id,
        "loan_id": loan_id,
    }
