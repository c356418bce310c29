"""Events other services send to scoring as signed webhooks (authenticated by their signature)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from services.scoring.api.deps import ScoringContextDep
from services.scoring.service.outcomes import apply_loans_event
from shared.api import RawBodyDep, SessionDep, service_router
from shared.auth import public_access
from shared.webhooks import SIGNATURE_HEADER, verified_event

router = service_router(
    prefix="/v1/inbound", tags=["inbound events"], dependencies=[Depends(public_access())]
)


@router.post("/loans")
def loans_event(
    request: Request, body: RawBodyDep, ctx: ScoringContextDep, session: SessionDep
) -> dict[str, Any]:
    """Receive a signed loans event; ``loan.outcome`` records what became of a scored loan.

    200 for every verified event, with its ``result``: ``recorded``, ``duplicate`` (event id
    seen before), ``already_recorded`` (that outcome of that score is stored), ``refused``
    (unknown score id; audited with its reason, acknowledged so it is not redelivered) or
    ``ignored`` (another topic). 401 for a bad signature, 422 for a malformed outcome, 503
    before scoring holds a secret (its own subscription's, or the operator's).
    """
    event = verified_event(
        ctx.settings.resolved_loans_webhook_secret,
        body,
        request.headers.get(SIGNATURE_HEADER),
        now=ctx.clock.now(),
        unconfigured="scoring is not subscribed to loans' events yet (the worker's scoring.loans.subscribe "
        "subscribes it) and no AGRIFIN_SCORING_LOANS_WEBHOOK_SECRET is configured",
    )
    return apply_loans_event(session, ctx, event=event)
