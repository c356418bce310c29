"""Lot routes: ship, deliver, accept, reject, return, dispute, resolve, refund if undelivered."""

from __future__ import annotations

from services.escrow.api.deps import AdminDep, EscrowContextDep, MarketplaceDep
from services.escrow.schemas import AcceptIn, DisputeIn, EscrowOut, RejectIn, ResolveIn, ShipIn
from services.escrow.service import lots
from shared.api import SessionDep, service_router

router = service_router(prefix="/v1/escrows/{escrow_id}/lots/{lot_ref}", tags=["lots"])


@router.post("/ship", response_model=EscrowOut)
def ship_lot(
    escrow_id: str,
    lot_ref: str,
    body: ShipIn,
    ctx: EscrowContextDep,
    session: SessionDep,
    who: MarketplaceDep,
) -> EscrowOut:
    """The seller shipped the lot (carrier and tracking reference)."""
    return lots.ship(
        session,
        ctx,
        who=who,
        escrow_id=escrow_id,
        lot_ref=lot_ref,
        carrier=body.carrier,
        tracking=body.tracking,
    )


@router.post("/deliver", response_model=EscrowOut)
def deliver_lot(
    escrow_id: str,
    lot_ref: str,
    ctx: EscrowContextDep,
    session: SessionDep,
    who: MarketplaceDep,
) -> EscrowOut:
    """The lot was delivered; the buyer's inspection period starts."""
    return lots.deliver(session, ctx, who=who, escrow_id=escrow_id, lot_ref=lot_ref)


@router.post("/accept", response_model=EscrowOut)
def accept_lot(
    escrow_id: str,
    lot_ref: str,
    ctx: EscrowContextDep,
    session: SessionDep,
    who: MarketplaceDep,
    body: AcceptIn | None = None,
) -> EscrowOut:
    """The buyer accepts the lot: released to the seller less the fee (a partial amount refunds the rest)."""
    return lots.accept(
        session,
        ctx,
        who=who,
        escrow_id=escrow_id,
        lot_ref=lot_ref,
        amount_minor=body.amount_minor if body else None,
    )


@router.post("/reject", response_model=EscrowOut)
def reject_lot(
    escrow_id: str,
    lot_ref: str,
    ctx: EscrowContextDep,
    session: SessionDep,
    who: MarketplaceDep,
    body: RejectIn | None = None,
) -> EscrowOut:
    """The buyer rejects the delivered lot during inspection; the seller awaits its return."""
    return lots.reject(
        session, ctx, who=who, escrow_id=escrow_id, lot_ref=lot_ref, reason=body.reason if body else ""
    )


@router.post("/return-received", response_model=EscrowOut)
def return_received(
    escrow_id: str,
    lot_ref: str,
    ctx: EscrowContextDep,
    session: SessionDep,
    who: MarketplaceDep,
) -> EscrowOut:
    """The seller received the rejected lot back; the buyer is refunded."""
    return lots.return_received(session, ctx, who=who, escrow_id=escrow_id, lot_ref=lot_ref)


@router.post("/dispute", response_model=EscrowOut)
def dispute_lot(
    escrow_id: str,
    lot_ref: str,
    body: DisputeIn,
    ctx: EscrowContextDep,
    session: SessionDep,
    who: MarketplaceDep,
) -> EscrowOut:
    """Open a dispute; the lot's money stays held until an arbiter resolves it."""
    return lots.dispute(session, ctx, who=who, escrow_id=escrow_id, lot_ref=lot_ref, reason=body.reason)


@router.post("/resolve", response_model=EscrowOut)
def resolve_dispute(
    escrow_id: str,
    lot_ref: str,
    body: ResolveIn,
    ctx: EscrowContextDep,
    session: SessionDep,
    who: AdminDep,
) -> EscrowOut:
    """An arbiter's decision: seller_minor released (less the fee), the rest refunded."""
    return lots.resolve(
        session, ctx, who=who, escrow_id=escrow_id, lot_ref=lot_ref, seller_minor=body.seller_minor
    )


@router.post("/refund-undelivered", response_model=EscrowOut)
def refund_undelivered(
    escrow_id: str,
    lot_ref: str,
    ctx: EscrowContextDep,
    session: SessionDep,
    who: MarketplaceDep,
) -> EscrowOut:
    """At the buyer's request, refund a lot not delivered by its delivery deadline."""
    return lots.refund_undelivered(session, ctx, who=who, escrow_id=escrow_id, lot_ref=lot_ref)
