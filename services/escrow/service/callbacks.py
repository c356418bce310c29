"""Provider callbacks: the one way a payment's or payout's outcome enters the service.

``receive_callback`` serves ``POST /v1/providers/{provider}/callbacks`` and the sandbox's
in-process deliveries alike: verify the HMAC signature with the provider's secret (401
otherwise), parse the body (400 when malformed), drop replays by the provider's event id
(``shared.webhooks.record_inbox``), then confirm, fail, settle or return.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.escrow.providers import callback_secret, get_provider
from services.escrow.providers.base import CallbackFormatError, CallbackType
from services.escrow.schemas import CallbackResult
from services.escrow.service.funding import confirm_payment, fail_payment
from services.escrow.service.payouts import finish_payout
from services.escrow.settings import EscrowContext
from shared.crypto import sha256_hex
from shared.errors import BadRequest, Unauthorized
from shared.webhooks import WebhookSignatureError, record_inbox, verify_signature_header

_INBOX_ID_LENGTH = 64


def _inbox_id(provider: str, event_id: str) -> str:
    key = f"{provider}:{event_id}"
    return key if len(key) <= _INBOX_ID_LENGTH else sha256_hex(key)


def receive_callback(
    session: Session,
    ctx: EscrowContext,
    *,
    provider: str,
    body: bytes,
    signature: str | None,
) -> CallbackResult:
    """Verify, deduplicate and apply one provider callback."""
    adapter = get_provider(provider)
    now = ctx.clock.now()
    try:
        verify_signature_header(callback_secret(ctx, provider), body, signature, now=now)
    except WebhookSignatureError as exc:
        raise Unauthorized(f"{provider} callback refused: {exc}") from exc
    try:
        event = adapter.parse_callback(body)
    except CallbackFormatError as exc:
        raise BadRequest(str(exc)) from exc
    fresh = record_inbox(
        session,
        ctx.tables,
        event_id=_inbox_id(provider, event.event_id),
        source=f"provider:{provider}",
        topic=event.type.value,
        now=now,
    )
    if not fresh:
        return CallbackResult(
            status="duplicate", event_id=event.event_id, detail="this event was received before; nothing done"
        )
    if event.type is CallbackType.PAYMENT_CONFIRMED:
        return confirm_payment(session, ctx, provider=provider, event=event)
    if event.type is CallbackType.PAYMENT_FAILED:
        return fail_payment(session, ctx, provider=provider, event=event)
    return finish_payout(session, ctx, provider=provider, event=event)
