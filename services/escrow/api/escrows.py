"""Escrow routes: open, read, list, entries, fund, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from services.escrow.api.deps import EscrowReaderDep, MarketplaceDep
from services.escrow.repository import escrows as escrow_repo
from services.escrow.schemas import CancelIn, EntryList, EscrowIn, EscrowList, EscrowOut, PaymentOut
from services.escrow.service import escrows, funding
from services.escrow.service.views import entries_out, escrow_summary
from shared.api import ContextDep, SessionDep, service_router

router = service_router(prefix="/v1", tags=["escrows"])


@router.post("/escrows", status_code=201, response_model=EscrowOut)
def create_escrow(body: EscrowIn, ctx: ContextDep, session: SessionDep, who: MarketplaceDep) -> EscrowOut:
    """Open an escrow for a marketplace order; it waits for the buyer's payment."""
    return escrows.create_escrow(session, ctx, who=who, body=body)


@router.get("/escrows", response_model=EscrowList)
def list_escrows(
    session: SessionDep, who: EscrowReaderDep,
    order_ref: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> EscrowList:
    """Escrows the caller may see, newest first (filter by order_ref or status)."""
    rows = escrow_repo.list_escrows(session, owner=who.owner, order_ref=order_ref, status=status, limit=limit)
    return EscrowList(escrows=[escrow_summary(row) for row in rows])


@router.get("/escrows/{escrow_id}", response_model=EscrowOut)
def read_escrow(escrow_id: str, ctx: ContextDep, session: SessionDep, who: EscrowReaderDep) -> EscrowOut:
    """An escrow: status, lots, money from the ledger, allowed actions and timeline."""
    return escrows.read_escrow(session, ctx, who=who, escrow_id=escrow_id)


@router.get("/escrows/{escrow_id}/entries", response_model=EntryList)
def escrow_entries(escrow_id: str, session: SessionDep, who: EscrowReaderDep) -> EntryList:
    """The escrow's journal entries with their postings, oldest first."""
    row = escrows.visible_escrow(session, who=who, escrow_id=escrow_id)
    return EntryList(escrow_id=row.id, entries=entries_out(session, row.id))


@router.post("/escrows/{escrow_id}/fund", status_code=202, response_model=PaymentOut)
def fund_escrow(escrow_id: str, ctx: ContextDep, session: SessionDep, who: MarketplaceDep) -> PaymentOut:
    """Start the buyer's payment at the provider; the escrow is funded when it confirms."""
    return funding.start_funding(session, ctx, who=who, escrow_id=escrow_id)


@router.post("/escrows/{escrow_id}/cancel", response_model=EscrowOut)
def cancel_escrow(
    escrow_id: str, ctx: ContextDep, session: SessionDep, who: MarketplaceDep, body: CancelIn | None = None,
) -> EscrowOut:
    """Cancel before any lot has shipped; a funded escrow is refunded to the buyer in full."""
    return escrows.cancel(session, ctx, who=who, escrow_id=escrow_id, reason=body.reason if body else "")
