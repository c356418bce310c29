"""Payment-provider callbacks (public, HMAC-signed) and the sandbox's admin helpers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from services.escrow.api.deps import AdminDep, EscrowContextDep
from services.escrow.schemas import (
    CallbackResult,
    SandboxConfirmIn,
    SandboxPaymentResult,
    SandboxPayoutResult,
    SandboxSettleIn,
)
from services.escrow.service import sandbox
from services.escrow.service.callbacks import receive_callback
from shared.api import RawBodyDep, SessionDep, service_router
from shared.auth import public_access
from shared.webhooks import SIGNATURE_HEADER

router = service_router(prefix="/v1/providers", tags=["providers"])
sandbox_router = service_router(prefix="/v1/sandbox", tags=["sandbox"])


@router.post("/{provider}/callbacks", response_model=CallbackResult, dependencies=[Depends(public_access())])
def provider_callback(
    provider: str,
    body: RawBodyDep,
    ctx: EscrowContextDep,
    session: SessionDep,
    signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER)] = None,
) -> CallbackResult:
    """A payment or payout outcome from a provider; authenticated only by its HMAC signature."""
    return receive_callback(session, ctx, provider=provider, body=body, signature=signature)


@sandbox_router.post("/payments/{payment_id}/confirm", response_model=SandboxPaymentResult)
def sandbox_confirm_payment(
    payment_id: str,
    ctx: EscrowContextDep,
    session: SessionDep,
    _: AdminDep,
    body: SandboxConfirmIn | None = None,
) -> SandboxPaymentResult:
    """Make the sandbox report a payment (signed callback, delivered in-process)."""
    body = body or SandboxConfirmIn()
    result = sandbox.confirm_payment(
        session,
        ctx,
        payment_id=payment_id,
        outcome=body.outcome,
        amount_minor=body.amount_minor,
        currency=body.currency,
    )
    return result


@sandbox_router.post("/payouts/{payout_id}/settle", response_model=SandboxPayoutResult)
def sandbox_settle_payout(
    payout_id: str,
    ctx: EscrowContextDep,
    session: SessionDep,
    _: AdminDep,
    body: SandboxSettleIn | None = None,
) -> SandboxPayoutResult:
    """Make the sandbox report a payout settled or returned (signed callback, in-process)."""
    body = body or SandboxSettleIn()
    result = sandbox.settle_payout(session, ctx, payout_id=payout_id, outcome=body.outcome)
    return result
