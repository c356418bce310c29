"""The sandbox provider: no real money, the same signed callbacks a real provider would send.

Starting a payment or a payout only mints a reference (``sbx_pay_...``, ``sbx_po_...``); the
sandbox keeps no books of its own. Its outcome is delivered by ``sandbox_callback``, which
builds the JSON body a real provider would POST and signs it with the sandbox's callback
secret. Two things deliver it, both through the very function that serves
``POST /v1/providers/sandbox/callbacks`` (signature check, replay check, then the effect):

* the worker's ``escrow.sandbox.confirm`` job, for every sandbox payment or payout pending
  longer than ``sandbox_confirm_after_seconds`` (the embedded default);
* the admin helpers ``POST /v1/sandbox/payments/{id}/confirm`` and
  ``POST /v1/sandbox/payouts/{id}/settle`` (tests and demos; they can also simulate a wrong
  amount, a failed payment or a returned payout).

Callback body::

    {"event_id": "...", "type": "payment.confirmed", "provider_ref": "sbx_pay_...",
     "amount_minor": 100000, "currency": "KES"}
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from services.escrow.providers.base import (
    CallbackFormatError,
    CallbackType,
    ProviderEvent,
    ProviderHandle,
)
from shared.crypto import canonical_json
from shared.money import CurrencyError, Money
from shared.webhooks import SIGNATURE_HEADER, sign_payload

NAME = "sandbox"


class SandboxProvider:
    """A provider that accepts everything and reports back through signed callbacks."""

    name = NAME

    def start_payment(self, *, payment_id: str, amount: Money, reference: str) -> ProviderHandle:
        """Mint a payment reference; confirmation comes later by callback."""
        return ProviderHandle(provider_ref=f"sbx_pay_{uuid.uuid4().hex}", status="pending")

    def start_payout(self, *, payout_id: str, amount: Money, payee: str) -> ProviderHandle:
        """Mint a payout reference; settlement comes later by callback."""
        return ProviderHandle(provider_ref=f"sbx_po_{uuid.uuid4().hex}", status="pending")

    def parse_callback(self, body: bytes) -> ProviderEvent:
        """Read a sandbox callback body."""
        try:
            data: Any = json.loads(body)
            if not isinstance(data, dict):
                raise CallbackFormatError("callback body must be a JSON object")
            amount = data["amount_minor"]
            if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
                raise CallbackFormatError("amount_minor must be a positive integer")
            return ProviderEvent(
                event_id=str(data["event_id"]),
                type=CallbackType(data["type"]),
                provider_ref=str(data["provider_ref"]),
                amount=Money(amount, str(data["currency"])),
            )
        except (KeyError, ValueError, CurrencyError) as exc:
            if isinstance(exc, CallbackFormatError):
                raise
            raise CallbackFormatError(f"malformed sandbox callback: {exc}") from exc


def sandbox_callback(
    *,
    secret: str,
    type: CallbackType,
    provider_ref: str,
    amount: Money,
    now: datetime,
    event_id: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body and headers the sandbox would POST to our callback route, signed."""
    body = canonical_json(
        {
            "event_id": event_id or f"sbx_evt_{uuid.uuid4().hex}",
            "type": type.value,
            "provider_ref": provider_ref,
            "amount_minor": amount.minor,
            "currency": amount.currency,
        }
    ).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign_payload(secret, body, int(now.timestamp())),
    }
    return body, headers
