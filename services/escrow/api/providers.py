"""Payment-provider callbacks (public, HMAC-signed) and the sandbox's admin helpers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from services.escrow.api.deps import AdminDep, RawBodyDep
from services.escrow.repository import payments as payment_repo
from services.escrow.schemas import CallbackResult, PaymentOut, PayoutOut, SandboxConfirmIn, SandboxSettleIn
from services.escrow.service import sandbox
from services.escrow.service.callbacks import receive_callback
from services.escrow.service.payouts import payout_out
from services.escrow.service.views import payment_out
from shared.api import ContextDep, SessionDep, service_router
from shared.auth import public_access
from shared.webhooks import SIGNATURE_HEADER

router = service_router(prefix="/v1/providers", tags=["providers"])
sandbox_router = service_router(prefix="/v1/sandbox", tags=["sandbox"])


@router.post("/{provider}/callbacks", response_model=CallbackResult,
             dependencies=[Depends(public_access())])
def provider_callback(
    provider: str, body: RawBodyDep, ctx: ContextDep, session: SessionDep,
    signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER)] = None,
) -> CallbackResult:
    """A payment or payout outcome from a provider; authenticated only by its HMAC signature."""
    return receive_callback(session, ctx, provider=provider, body=body, signature=signature)


class SandboxPaymentResult(CallbackResult):
    """The callback's result and the payment afterwards."""

    payment: PaymentOut


class SandboxPayoutResult(CallbackResult):
    """The callback's result and the payout afterwards."""

    payout: PayoutOut


@sandbox_router.post("/payments/{payment_id}/confirm", response_model=SandboxPaymentResult)
def sandbox_confirm_payment(
    payment_id: str, ctx: ContextDep, session: SessionDep, _: AdminDep, body: SandboxConfirmIn | None = None,
) -> SandboxPaymentResult:
    """Make the sandbox report a payment (signed callback, delivered in-process)."""
    body = body or SandboxConfirmIn()
    result = sandbox.confirm_payment(session, ctx, payment_id=payment_id, outcome=body.outcome,
                                     amount_minor=body.amount_minor, currency=body.currency)
    payment = payment_repo.get_payment(session, payment_id)
    assert payment is not None
    return SandboxPaymentResult(**result.model_dump(), payment=payment_out(payment))


@sandbox_router.post("/payouts/{payout_id}/settle", response_model=SandboxPayoutResult)
def sandbox_settle_payout(
    payout_id: str, ctx: ContextDep, session: SessionDep, _: AdminDep, body: SandboxSettleIn | None = None,
) -> SandboxPayoutResult:
    """Make the sandbox report a payout settled or returned (signed callback, in-process)."""
    body = body or SandboxSettleIn()
    result = sandbox.settle_payout(session, ctx, payout_id=payout_id, outcome=body.outcome)
    payout = payment_repo.get_payout(session, payout_id)
    assert payout is not None
    return SandboxPayoutResult(**result.model_dump(), payout=payout_out(payout))
