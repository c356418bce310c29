"""Events other services send to loans as signed webhooks (authenticated by their signature)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from services.loans.api.deps import LoansContextDep
from services.loans.service.proceeds import apply_escrow_event
from shared.api import RawBodyDep, SessionDep, service_router
from shared.auth import public_access
from shared.webhooks import SIGNATURE_HEADER, verified_event

router = service_router(
    prefix="/v1/inbound", tags=["inbound events"], dependencies=[Depends(public_access())]
)


@router.post("/escrow")
def escrow_event(
    request: Request, body: RawBodyDep, ctx: LoansContextDep, session: SessionDep
) -> dict[str, Any]:
    """Receive a signed escrow event; ``assignment.swept`` posts a sale-proceeds repayment."""
    event = verified_event(
        ctx.settings.resolved_escrow_webhook_secret,
        body,
        request.headers.get(SIGNATURE_HEADER),
        now=ctx.clock.now(),
        unconfigured="no escrow webhook secret is configured (AGRIFIN_LOANS_ESCROW_WEBHOOK_SECRET)",
    )
    return apply_escrow_event(session, ctx, event=event)
