"""Money out: paying a seller's, buyer's or lender's balance through the provider.

Instructing a payout moves the amount from the payee's payable to payout clearing (the
payable is locked and may not go negative); the provider's callback then settles it
(payout clearing -> provider clearing) or returns it (back to the payable).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.escrow.domain.ledger import AccountRef, JournalEntry
from services.escrow.domain.postings import (
    buyer_refund_account,
    lender_account,
    payout_clearing_account,
    payout_entry,
    payout_returned_entry,
    payout_settled_entry,
    seller_payable_account,
)
from services.escrow.models import PayoutRow
from services.escrow.presenters import payout_out
from services.escrow.providers import get_provider
from services.escrow.providers.base import CallbackType, ProviderEvent
from services.escrow.repository import payments as payment_repo
from services.escrow.repository.ledger import ensure_accounts, find_accounts, lock_accounts, post_entries
from services.escrow.schemas import CallbackResult, PayoutList, PayoutOut
from services.escrow.service.errors import domain_errors
from services.escrow.service.transitions import entry_legs
from services.escrow.settings import EscrowContext
from shared.changes import new_id, record_change
from shared.errors import Conflict, NotFound
from shared.money import Money


def payable_account(*, payee_kind: str, payee_id: str, currency: str) -> AccountRef:
    """The account holding what the platform owes a payee."""
    if payee_kind == "seller":
        return seller_payable_account(seller_id=payee_id, currency=currency)
    if payee_kind == "buyer":
        return buyer_refund_account(buyer_id=payee_id, currency=currency)
    if payee_kind == "lender":
        return lender_account(lender_id=payee_id, currency=currency)
    raise ValueError(f"unknown payee kind {payee_kind!r}")


def _record(
    session: Session, ctx: EscrowContext, *, actor: str, row: PayoutRow, topic: str, entry: JournalEntry
) -> None:
    """The outbox event and audit entry of a payout's money movement (audit at commit)."""
    data = {
        "payout_id": row.id,
        "payee_kind": row.payee_kind,
        "payee_id": row.payee_id,
        "currency": row.currency,
        "amount_minor": row.amount_minor,
        "provider": row.provider,
        "provider_ref": row.provider_ref,
    }
    record_change(
        session,
        ctx,
        actor=actor,
        action=topic,
        subject=f"payout:{row.id}",
        payload=data,
        audit_payload={**data, "entry": entry.ref, "legs": entry_legs(entry)},
    )


def create_payout(
    session: Session,
    ctx: EscrowContext,
    *,
    actor: str,
    payee_kind: str,
    payee_id: str,
    currency: str,
    amount_minor: int | None,
) -> PayoutOut:
    """Pay ``amount_minor`` (default: everything owed) of a payee's balance out."""
    now = ctx.clock.now()
    provider = get_provider(ctx.settings.default_provider)
    payable = payable_account(payee_kind=payee_kind, payee_id=payee_id, currency=currency)
    clearing = payout_clearing_account(provider=provider.name, currency=currency)
    ensure_accounts(session, refs=[clearing], now=now)
    stored = find_accounts(session, [payable])
    if payable not in stored:
        raise NotFound(f"{payee_kind} {payee_id!r} has no {currency} balance")
    balance = lock_accounts(session, stored, [payable])[payable]
    owed = stored[payable].account.normal_balance(balance).minor
    amount = owed if amount_minor is None else amount_minor
    if amount <= 0:
        raise Conflict(
            f"{payee_kind} {payee_id!r} is owed nothing in {currency}",
            current_state="nothing_owed",
            balance_minor=owed,
        )
    payout_id = new_id()
    entry = payout_entry(
        payable=payable, amount=Money(amount, currency), provider=provider.name, ref=f"payout:{payout_id}"
    )
    with domain_errors():
        post_entries(session, entries=[entry], escrow_id=None, now=now)
    handle = provider.start_payout(payout_id=payout_id, amount=Money(amount, currency), payee=str(payable))
    row = PayoutRow(
        id=payout_id,
        provider=provider.name,
        provider_ref=handle.provider_ref,
        payee_kind=payee_kind,
        payee_id=payee_id,
        currency=currency,
        amount_minor=amount,
        status="pending",
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    _record(session, ctx, actor=actor, row=row, topic="payout.sent", entry=entry)
    return payout_out(row)


def finish_payout(
    session: Session, ctx: EscrowContext, *, provider: str, event: ProviderEvent
) -> CallbackResult:
    """The provider settled or returned a payout: post it and close the payout."""
    found = payment_repo.find_payout(session, provider=provider, provider_ref=event.provider_ref)
    if found is None:
        raise NotFound(f"no {provider} payout {event.provider_ref!r}")
    row = payment_repo.lock_payout(session, found.id)
    if row.status != "pending":
        return CallbackResult(
            status="ignored", event_id=event.event_id, detail=f"payout {row.id} is already {row.status}"
        )
    amount = Money(row.amount_minor, row.currency)
    if event.amount != amount:
        return CallbackResult(
            status="ignored",
            event_id=event.event_id,
            detail=f"payout {row.id} is {amount.minor} {amount.currency}, the provider "
            f"reported {event.amount.minor} {event.amount.currency}; left pending",
        )
    if event.type is CallbackType.PAYOUT_SETTLED:
        entry = payout_settled_entry(amount=amount, provider=provider, ref=f"payout:{row.id}:settled")
        row.status, topic = "settled", "payout.settled"
    else:
        payable = payable_account(payee_kind=row.payee_kind, payee_id=row.payee_id, currency=row.currency)
        entry = payout_returned_entry(
            payable=payable, amount=amount, provider=provider, ref=f"payout:{row.id}:returned"
        )
        row.status, topic = "returned", "payout.returned"
    row.updated_at = ctx.clock.now()
    with domain_errors():
        post_entries(session, entries=[entry], escrow_id=None, now=row.updated_at)
    _record(session, ctx, actor=f"provider:{provider}", row=row, topic=topic, entry=entry)
    return CallbackResult(status="processed", event_id=event.event_id, detail=f"payout {row.id} {row.status}")


def read_payout(session: Session, payout_id: str) -> PayoutOut:
    """A payout by id."""
    row = payment_repo.get_payout(session, payout_id)
    if row is None:
        raise NotFound(f"payout {payout_id} not found")
    return payout_out(row)


def list_payouts(
    session: Session,
    *,
    payee_kind: str | None,
    payee_id: str | None,
    status: str | None,
    limit: int,
    offset: int = 0,
) -> PayoutList:
    """Payouts, newest first."""
    rows = payment_repo.list_payouts(
        session, payee_kind=payee_kind, payee_id=payee_id, status=status, limit=limit, offset=offset
    )
    return PayoutList(payouts=[payout_out(row) for row in rows])
