"""Party routes: a marketplace party's trade summary as seller (for the loans service)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from pydantic import AwareDatetime

from services.escrow.api.deps import EscrowContextDep, TradeReaderDep
from services.escrow.schemas.parties import TradeSummaryOut
from services.escrow.service import parties
from shared.api import SessionDep, service_router

router = service_router(prefix="/v1/parties", tags=["parties"])


@router.get("/{party_id}/trade-summary", response_model=TradeSummaryOut)
def trade_summary(
    party_id: str,
    ctx: EscrowContextDep,
    session: SessionDep,
    _: TradeReaderDep,
    as_of: Annotated[AwareDatetime | None, Query(description="ISO-8601 with offset; default now")] = None,
) -> TradeSummaryOut:
    """The party's escrows as seller over the twelve months before ``as_of``: volumes, rates, refunds."""
    return parties.trade_summary(session, party_id=party_id, as_of=as_of or ctx.clock.now())
