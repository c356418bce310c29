"""Payout routes: pay a seller's, buyer's or lender's balance out; read payouts."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Query

from services.escrow.api.deps import AdminDep, EscrowContextDep, FinanceReaderDep
from services.escrow.schemas import PayoutIn, PayoutList, PayoutOut
from services.escrow.service import payouts
from shared.api import SessionDep, service_router

router = service_router(prefix="/v1/payouts", tags=["payouts"])


@router.post("", status_code=201, response_model=PayoutOut)
def create_payout(body: PayoutIn, ctx: EscrowContextDep, session: SessionDep, who: AdminDep) -> PayoutOut:
    """Pay a payee's balance (all of it unless amount_minor) out through the provider."""
    if body.seller_id is not None:
        kind, payee = "seller", body.seller_id
    elif body.buyer_id is not None:
        kind, payee = "buyer", body.buyer_id
    else:
        assert body.lender_id is not None
        kind, payee = "lender", body.lender_id
    return payouts.create_payout(
        session,
        ctx,
        actor=who.actor,
        payee_kind=kind,
        payee_id=payee,
        currency=body.currency,
        amount_minor=body.amount_minor,
    )


@router.get("", response_model=PayoutList)
def list_payouts(
    session: SessionDep,
    _: FinanceReaderDep,
    payee_kind: Literal["seller", "buyer", "lender"] | None = None,
    payee_id: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> PayoutList:
    """Payouts, newest first."""
    return payouts.list_payouts(
        session, payee_kind=payee_kind, payee_id=payee_id, status=status, limit=limit, offset=offset
    )


@router.get("/{payout_id}", response_model=PayoutOut)
def read_payout(payout_id: str, session: SessionDep, _: FinanceReaderDep) -> PayoutOut:
    """A payout and its state at the provider."""
    return payouts.read_payout(session, payout_id)
