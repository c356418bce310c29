"""What buyers, sellers (through their marketplace) and arbiters do to one lot."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.escrow.domain import lifecycle
from services.escrow.schemas import EscrowOut
from services.escrow.service.escrows import run_action
from services.escrow.settings import EscrowContext
from shared.auth import Principal


def ship(
    session: Session,
    ctx: EscrowContext,
    *,
    who: Principal,
    escrow_id: str,
    lot_ref: str,
    carrier: str,
    tracking: str,
) -> EscrowOut:
    """The seller shipped the lot."""
    return run_action(
        session,
        ctx,
        who=who,
        actor=who.actor,
        escrow_id=escrow_id,
        step=lambda e, now: lifecycle.ship_lot(
            escrow=e, lot_id=lot_ref, carrier=carrier, tracking=tracking, now=now
        ),
        data={"carrier": carrier, "tracking": tracking},
    )


def deliver(
    session: Session, ctx: EscrowContext, *, who: Principal, escrow_id: str, lot_ref: str
) -> EscrowOut:
    """The lot was delivered; the buyer's inspection period starts now."""
    return run_action(
        session,
        ctx,
        who=who,
        actor=who.actor,
        escrow_id=escrow_id,
        step=lambda e, now: lifecycle.deliver_lot(escrow=e, lot_id=lot_ref, now=now),
    )


def accept(
    session: Session,
    ctx: EscrowContext,
    *,
    who: Principal,
    escrow_id: str,
    lot_ref: str,
    amount_minor: int | None,
) -> EscrowOut:
    """The buyer accepts the lot, in full or in part (the rest goes back to the buyer)."""
    return run_action(
        session,
        ctx,
        who=who,
        actor=who.actor,
        escrow_id=escrow_id,
        step=lambda e, now: lifecycle.accept_lot(
            escrow=e, lot_id=lot_ref, now=now, amount_minor=amount_minor
        ),
        data={"accepted_minor": amount_minor} if amount_minor is not None else None,
    )


def reject(
    session: Session,
    ctx: EscrowContext,
    *,
    who: Principal,
    escrow_id: str,
    lot_ref: str,
    reason: str,
) -> EscrowOut:
    """The buyer rejects the delivered lot during inspection; its return is awaited."""
    return run_action(
        session,
        ctx,
        who=who,
        actor=who.actor,
        escrow_id=escrow_id,
        step=lambda e, now: lifecycle.reject_lot(escrow=e, lot_id=lot_ref, now=now, reason=reason),
        data={"reason": reason},
    )


def return_received(
    session: Session,
    ctx: EscrowContext,
    *,
    who: Principal,
    escrow_id: str,
    lot_ref: str,
) -> EscrowOut:
    """The seller got the rejected lot back; the buyer is refunded."""
    return run_action(
        session,
        ctx,
        who=who,
        actor=who.actor,
        escrow_id=escrow_id,
        step=lambda e, now: lifecycle.receive_return(escrow=e, lot_id=lot_ref, now=now),
    )


def dispute(
    session: Session,
    ctx: EscrowContext,
    *,
    who: Principal,
    escrow_id: str,
    lot_ref: str,
    reason: str,
) -> EscrowOut:
    """Open a dispute; the lot is frozen until an arbiter resolves it."""
    return run_action(
        session,
        ctx,
        who=who,
        actor=who.actor,
        escrow_id=escrow_id,
        step=lambda e, now: lifecycle.dispute_lot(escrow=e, lot_id=lot_ref, reason=reason, now=now),
        data={"reason": reason},
    )


def resolve(
    session: Session,
    ctx: EscrowContext,
    *,
    who: Principal,
    escrow_id: str,
    lot_ref: str,
    seller_minor: int,
) -> EscrowOut:
    """An arbiter splits the disputed lot: ``seller_minor`` released, the rest refunded."""
    return run_action(
        session,
        ctx,
        who=who,
        actor=who.actor,
        escrow_id=escrow_id,
        amount_field="seller_minor",
        step=lambda e, now: lifecycle.resolve_dispute(
            escrow=e, lot_id=lot_ref, seller_minor=seller_minor, now=now
        ),
        data={"seller_minor": seller_minor},
    )


def refund_undelivered(
    session: Session,
    ctx: EscrowContext,
    *,
    who: Principal,
    escrow_id: str,
    lot_ref: str,
) -> EscrowOut:
    """Refund a lot not delivered by its deadline, at the buyer's request."""
    return run_action(
        session,
        ctx,
        who=who,
        actor=who.actor,
        escrow_id=escrow_id,
        step=lambda e, now: lifecycle.refund_undelivered_lot(escrow=e, lot_id=lot_ref, now=now),
    )
