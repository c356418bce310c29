"""Payment-provider adapters and their callback secrets.

``base`` holds the ``PaymentProvider`` protocol; ``sandbox`` is the one adapter that ships
(the embedded default and the tests). ``get_provider`` looks an adapter up by name and
``callback_secret`` gives the secret its callbacks are signed with.
"""

from __future__ import annotations

from services.escrow.providers.base import PaymentProvider
from services.escrow.providers.sandbox import SandboxProvider
from services.escrow.settings import EscrowContext
from shared.errors import NotFound

_ADAPTERS: dict[str, PaymentProvider] = {"sandbox": SandboxProvider()}


def get_provider(name: str) -> PaymentProvider:
    """The adapter called ``name``; NotFound for an unknown provider."""
    try:
        return _ADAPTERS[name]
    except KeyError:
        raise NotFound(f"unknown payment provider {name!r}") from None


def callback_secret(ctx: EscrowContext, provider: str) -> str:
    """The provider's callback secret: from settings, else derived from the keyring."""
    configured = ctx.settings.provider_secrets
    if provider in configured:
        return configured[provider]
    return ctx.keyring.hmac_hex(f"escrow-provider-callback:{provider}".encode())
