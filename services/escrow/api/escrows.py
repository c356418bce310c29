"""Escrow routes: open, read, list, entries, fund, cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import AwareDatetime

from services.escrow.api.deps import EscrowContextDep, EscrowReaderDep, MarketplaceDep
from services.escrow.schemas import CancelIn, EntryList, EscrowIn, EscrowList, EscrowOut, PaymentOut
from services.escrow.service import escrows, funding
from shared.api import SessionDep, service_router

router = service_router(prefix="/v1", tags=["escrows"])


@router.post("/escrows", status_code=201, response_model=EscrowOut)
def create_escrow(
    body: EscrowIn, ctx: EscrowContextDep, session: SessionDep, who: MarketplaceDep
) -> EscrowOut:
    """Open an escrow for a marketplace order; it waits for the buyer's payment."""
    return escrows.create_escrow(session, ctx, who=who, body=body)


@router.get("/escrows", response_model=EscrowList)
def list_escrows(
    session: SessionDep,
    who: EscrowReaderDep,
    order_ref: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    seller_id: Annotated[str | None, Query(max_length=128)] = None,
    created_from: Annotated[AwareDatetime | None, Query(description="ISO-8601, inclusive")] = None,
    created_to: Annotated[AwareDatetime | None, Query(description="ISO-8601, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> EscrowList:
    """Escrows the caller may see, newest first (filter by order, status, seller, creation time)."""
    return escrows.list_escrows(
        session,
        who=who,
        order_ref=order_ref,
        status=status,
        seller_id=seller_id,
        created_from=created_from,
        created_to=created_to,
        limit=limit,
        offset=offset,
    )


@router.get("/escrows/{escrow_id}", response_model=EscrowOut)
def read_escrow(
    escrow_id: str, ctx: EscrowContextDep, session: SessionDep, who: EscrowReaderDep
) -> EscrowOut:
    """An escrow: status, lots, money from the ledger, allowed actions and timeline."""
    return escrows.read_escrow(session, ctx, who=who, escrow_id=escrow_id)


@router.get("/escrows/{escrow_id}/entries", response_model=EntryList)
def escrow_entries(escrow_id: str, session: SessionDep, who: EscrowReaderDep) -> EntryList:
    """The escrow's journal entries with their postings, oldest first."""
    return escrows.read_entries(session, who=who, escrow_id=escrow_id)


@router.post("/escrows/{escrow_id}/fund", status_code=202, response_model=PaymentOut)
def fund_escrow(
    escrow_id: str, ctx: EscrowContextDep, session: SessionDep, who: MarketplaceDep
) -> PaymentOut:
    """Start the buyer's payment at the provider; the escrow is funded when it confirms."""
    return funding.start_funding(session, ctx, who=who, escrow_id=escrow_id)


@router.post("/escrows/{escrow_id}/cancel", response_model=EscrowOut)
def cancel_escrow(
    escrow_id: str,
    ctx: EscrowContextDep,
    session: SessionDep,
    who: MarketplaceDep,
    body: CancelIn | None = None,
) -> EscrowOut:
    """Cancel before any lot has shipped; a funded escrow is refunded to the buyer in full."""
    return escrows.cancel(session, ctx, who=who, escrow_id=escrow_id, reason=body.reason if body else "")
