"""Events other services send to loans as signed webhooks (authenticated by their signature)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, Request

from services.loans.api.deps import LoansContextDep
from services.loans.service.proceeds import apply_escrow_event
from shared.api import RawBodyDep, SessionDep, service_router
from shared.auth import public_access
from shared.errors import BadRequest, ServiceUnavailable, Unauthorized
from shared.webhooks import SIGNATURE_HEADER, WebhookSignatureError, verify_signature_header

router = service_router(
    prefix="/v1/inbound", tags=["inbound events"], dependencies=[Depends(public_access())]
)


@router.post("/escrow")
def escrow_event(
    request: Request, body: RawBodyDep, ctx: LoansContextDep, session: SessionDep
) -> dict[str, Any]:
    """Receive a signed escrow event; ``assignment.swept`` posts a sale-proceeds repayment."""
    secret = ctx.settings.resolved_escrow_webhook_secret
    if secret is None:
        raise ServiceUnavailable(
            "no escrow webhook secret is configured (AGRIFIN_LOANS_ESCROW_WEBHOOK_SECRET)"
        )
    try:
        verify_signature_header(secret, body, request.headers.get(SIGNATURE_HEADER), now=ctx.clock.now())
    except WebhookSignatureError as exc:
        raise Unauthorized(f"webhook signature rejected: {exc}") from exc
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise BadRequest("the event body is not JSON") from exc
    if not isinstance(event, dict):
        raise BadRequest("the event body must be a JSON object")
    return apply_escrow_event(session, ctx, event=event)
