"""The sandbox provider's confirmations, delivered in-process through ``receive_callback``.

Each builds the signed body the sandbox would POST and hands it, with its signature header,
to the function that serves ``POST /v1/providers/sandbox/callbacks``: the signature is
checked and replays are dropped exactly as for a real provider. The admin helper routes use
a fresh event id per call; the worker uses one id per payment or payout
(``sbx_evt_<id>_<type>``), so two replicas can never apply the same confirmation twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from services.escrow.presenters import payment_out, payout_out
from services.escrow.providers import callback_secret
from services.escrow.providers.base import CallbackType
from services.escrow.providers.sandbox import NAME, sandbox_callback
from services.escrow.repository import escrows as escrow_repo
from services.escrow.repository import payments as payment_repo
from services.escrow.schemas import CallbackResult, SandboxPaymentResult, SandboxPayoutResult
from services.escrow.service.callbacks import receive_callback
from services.escrow.settings import EscrowContext
from shared.errors import Conflict, NotFound
from shared.money import Money
from shared.webhooks import SIGNATURE_HEADER
from shared.worker import claim_each


def deliver(
    session: Session,
    ctx: EscrowContext,
    *,
    type: CallbackType,
    provider_ref: str,
    amount: Money,
    event_id: str | None = None,
) -> CallbackResult:
    """Sign a sandbox callback and deliver it through the provider callback path."""
    body, headers = sandbox_callback(
        secret=callback_secret(ctx, NAME),
        type=type,
        provider_ref=provider_ref,
        amount=amount,
        now=ctx.clock.now(),
        event_id=event_id,
    )
    return receive_callback(session, ctx, provider=NAME, body=body, signature=headers[SIGNATURE_HEADER])


def confirm_payment(
    session: Session,
    ctx: EscrowContext,
    *,
    payment_id: str,
    outcome: str,
    amount_minor: int | None,
    currency: str | None,
) -> SandboxPaymentResult:
    """Have the sandbox report a payment (by default: confirmed, exactly as asked)."""
    # Locked here with its escrow (escrow first), so the callback path reads it no more.
    found = escrow_repo.lock_escrow_of_payment(session, payment_id=payment_id)
    payment = None if found is None else found[1]
    if payment is None or payment.provider != NAME:
        raise NotFound(f"sandbox payment {payment_id} not found")
    if payment.status != "pending":
        raise Conflict(
            f"payment {payment_id} is already {payment.status}",
            current_state=payment.status,
            allowed_actions=[],
        )
    minor = payment.amount_minor if amount_minor is None else amount_minor
    amount = Money(minor, currency or payment.currency)
    kind = CallbackType.PAYMENT_CONFIRMED if outcome == "confirmed" else CallbackType.PAYMENT_FAILED
    result = deliver(session, ctx, type=kind, provider_ref=payment.provider_ref, amount=amount)
    return SandboxPaymentResult(**result.model_dump(), payment=payment_out(payment))


def settle_payout(
    session: Session, ctx: EscrowContext, *, payout_id: str, outcome: str
) -> SandboxPayoutResult:
    """Have the sandbox report a payout settled (or returned)."""
    payout = payment_repo.get_payout(session, payout_id)
    if payout is None or payout.provider != NAME:
        raise NotFound(f"sandbox payout {payout_id} not found")
    if payout.status != "pending":
        raise Conflict(
            f"payout {payout_id} is already {payout.status}", current_state=payout.status, allowed_actions=[]
        )
    kind = CallbackType.PAYOUT_SETTLED if outcome == "settled" else CallbackType.PAYOUT_RETURNED
    result = deliver(
        session,
        ctx,
        type=kind,
        provider_ref=payout.provider_ref,
        amount=Money(payout.amount_minor, payout.currency),
    )
    return SandboxPayoutResult(**result.model_dump(), payout=payout_out(payout))


def confirm_due(ctx: EscrowContext) -> int:
    """Worker: confirm sandbox payments and settle sandbox payouts pending long enough."""
    settings = ctx.settings
    if not (settings.sandbox_enabled and settings.sandbox_auto_confirm):
        return 0

    def before() -> datetime:
        return ctx.clock.now() - timedelta(seconds=settings.sandbox_confirm_after_seconds)

    def confirm_payments(session: Session, escrow_id: str) -> int:
        pending = payment_repo.pending_payments_of(session, escrow_id=escrow_id, provider=NAME)
        for payment in pending:
            deliver(
                session,
                ctx,
                type=CallbackType.PAYMENT_CONFIRMED,
                provider_ref=payment.provider_ref,
                amount=Money(payment.amount_minor, payment.currency),
                event_id=f"sbx_evt_{payment.id}_confirmed",
            )
        return len(pending)

    def settle_payout(session: Session, payout_id: str) -> None:
        payout = payment_repo.lock_payout(session, payout_id)
        deliver(
            session,
            ctx,
            type=CallbackType.PAYOUT_SETTLED,
            provider_ref=payout.provider_ref,
            amount=Money(payout.amount_minor, payout.currency),
            event_id=f"sbx_evt_{payout.id}_settled",
        )

    payments = claim_each(
        ctx.db,
        limit=settings.job_batch_size,
        claim=lambda session: escrow_repo.claim_escrow_with_payment(session, provider=NAME, before=before()),
        work=confirm_payments,
    )
    return payments + claim_each(
        ctx.db,
        limit=settings.job_batch_size,
        claim=lambda session: payment_repo.claim_pending_payout(session, provider=NAME, before=before()),
        work=settle_payout,
    )
