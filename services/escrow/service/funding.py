"""Funding an escrow: start a payment at the provider, then act on its confirmation.

Only a confirmed payment of exactly the escrow's total funds it, and only while the escrow
is ``created``. Money that arrives otherwise (another amount or currency, or an escrow
already funded, cancelled or expired) is recorded as owed back to the buyer
(``unapplied_payment_entry``) and the escrow is left as it was.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.escrow.domain import lifecycle
from services.escrow.domain.model import Action, InvalidTransitionError
from services.escrow.domain.postings import unapplied_payment_entry
from services.escrow.models import EscrowRow, LotRow, PaymentRow
from services.escrow.presenters import payment_out
from services.escrow.providers import get_provider
from services.escrow.providers.base import ProviderEvent
from services.escrow.repository import escrows as escrow_repo
from services.escrow.repository import payments as payment_repo
from services.escrow.repository.ledger import ensure_accounts, post_entries
from services.escrow.schemas import CallbackResult, PaymentOut
from services.escrow.service.errors import domain_errors
from services.escrow.service.escrows import lock_visible_with_history
from services.escrow.service.mapping import to_domain
from services.escrow.service.transitions import (
    apply_transition,
    entry_legs,
    escrow_event_row,
    record_escrow_change,
)
from services.escrow.settings import EscrowContext
from shared.auth import Principal
from shared.changes import new_id
from shared.errors import NotFound
from shared.money import Money


def start_funding(session: Session, ctx: EscrowContext, *, who: Principal, escrow_id: str) -> PaymentOut:
    """Start the buyer's payment of the escrow total (or return the one already pending)."""
    locked, history = lock_visible_with_history(session, who=who, escrow_id=escrow_id)
    row = locked.row
    escrow = to_domain(row, locked.lots)
    allowed = lifecycle.allowed_actions(escrow=escrow, now=ctx.clock.now())
    if Action.FUND not in allowed:
        with domain_errors():
            raise InvalidTransitionError(escrow.status.value, Action.FUND, allowed)
    if history is None:  # read after the lock (PostgreSQL, or an escrow this transaction held)
        pending = payment_repo.pending_payment(session, row.id)
    else:  # read with the lock (SQLite): the payments oldest first, as pending_payment orders them
        pending = next((p for p in history.payments if p.status == "pending"), None)
    if pending is not None:
        return payment_out(pending)
    now = ctx.clock.now()
    payment_id = new_id()
    handle = get_provider(row.provider).start_payment(
        payment_id=payment_id, amount=Money(row.total_minor, row.currency), reference=row.id
    )
    payment = PaymentRow(
        id=payment_id,
        escrow_id=row.id,
        provider=row.provider,
        provider_ref=handle.provider_ref,
        currency=row.currency,
        amount_minor=row.total_minor,
        received_minor=None,
        status="pending",
        detail=None,
        created_at=now,
        updated_at=now,
    )
    session.add(payment)
    record_escrow_change(
        session,
        ctx,
        row,
        actor=who.actor,
        now=now,
        timeline_event="payment.started",
        timeline_data={"payment_id": payment_id, "provider": row.provider, "amount_minor": row.total_minor},
        events=[
            escrow_event_row(
                ctx,
                row,
                "payment.started",
                {
                    "payment_id": payment_id,
                    "provider": row.provider,
                    "amount_minor": row.total_minor,
                    "currency": row.currency,
                },
            )
        ],
    )
    session.flush()
    return payment_out(payment)


def _locked_payment(
    session: Session, *, provider: str, event: ProviderEvent
) -> tuple[PaymentRow, EscrowRow, list[LotRow]]:
    """The payment with its escrow and lots, all locked in one statement (the escrow's rows first).

    Read once: when this transaction has locked them already (the sandbox's confirmation
    route does, to check the payment), they are not read again."""
    found = escrow_repo.lock_escrow_of_payment(session, provider=provider, provider_ref=event.provider_ref)
    if found is None:
        raise NotFound(f"no {provider} payment {event.provider_ref!r}")
    locked, payment = found
    return payment, locked.row, locked.lots


def confirm_payment(
    session: Session, ctx: EscrowContext, *, provider: str, event: ProviderEvent
) -> CallbackResult:
    """The provider confirmed a payment: fund the escrow if it is exact and still expected."""
    payment, row, lots = _locked_payment(session, provider=provider, event=event)
    if payment.status != "pending":
        return CallbackResult(
            status="ignored",
            event_id=event.event_id,
            detail=f"payment {payment.id} is already {payment.status}",
        )
    actor = f"provider:{provider}"
    escrow = to_domain(row, lots)
    now = ctx.clock.now()
    expected = Money(payment.amount_minor, payment.currency)
    payment.received_minor, payment.updated_at = event.amount.minor, now
    exact = event.amount == expected
    if exact and Action.FUND in lifecycle.allowed_actions(escrow=escrow, now=now):
        payment.status = "confirmed"
        with domain_errors():
            transition = lifecycle.fund_escrow(escrow=escrow, amount=event.amount, now=now)
        apply_transition(
            session,
            ctx,
            row=row,
            lots=lots,
            transition=transition,
            actor=actor,
            data={"payment_id": payment.id, "provider_ref": payment.provider_ref},
        )
        return CallbackResult(status="processed", event_id=event.event_id, detail=f"escrow {row.id} funded")

    payment.status = "refunded" if exact else "mismatched"
    payment.detail = (
        f"escrow is {row.status}; payment owed back to the buyer"
        if exact
        else f"expected {expected.minor} {expected.currency}, received "
        f"{event.amount.minor} {event.amount.currency}; owed back to the buyer"
    )
    entry = unapplied_payment_entry(
        buyer_id=row.buyer_id, amount=event.amount, provider=provider, ref=f"payment:{payment.id}:unapplied"
    )
    ensure_accounts(session, refs=[leg.account for leg in entry.postings], now=now)
    with domain_errors():
        post_entries(session, entries=[entry], escrow_id=row.id, now=now)
    data = {
        "payment_id": payment.id,
        "received_minor": event.amount.minor,
        "currency": event.amount.currency,
        "detail": payment.detail,
    }
    topic = f"payment.{payment.status}"
    record_escrow_change(
        session,
        ctx,
        row,
        actor=actor,
        now=now,
        timeline_event=topic,
        timeline_data=data,
        events=[escrow_event_row(ctx, row, topic, data)],
        audit_payload={**data, "entry": entry.ref, "legs": entry_legs(entry)},
    )
    return CallbackResult(status="processed", event_id=event.event_id, detail=payment.detail)


def fail_payment(
    session: Session, ctx: EscrowContext, *, provider: str, event: ProviderEvent
) -> CallbackResult:
    """The provider reports the payment failed: nothing moved; the escrow still waits."""
    payment, row, _ = _locked_payment(session, provider=provider, event=event)
    if payment.status != "pending":
        return CallbackResult(
            status="ignored",
            event_id=event.event_id,
            detail=f"payment {payment.id} is already {payment.status}",
        )
    now = ctx.clock.now()
    payment.status, payment.updated_at, payment.detail = "failed", now, "the provider reported a failure"
    record_escrow_change(
        session,
        ctx,
        row,
        actor=f"provider:{provider}",
        now=now,
        timeline_event="payment.failed",
        timeline_data={"payment_id": payment.id},
        events=[escrow_event_row(ctx, row, "payment.failed", {"payment_id": payment.id})],
    )
    return CallbackResult(status="processed", event_id=event.event_id, detail=f"payment {payment.id} failed")
