"""What the escrow service needs from a payment provider, whichever it is.

A provider takes money in (a buyer's payment that funds an escrow) and sends money out (a
payout to a seller, a buyer's refund, a lender's proceeds). Both are asynchronous: starting
one returns the provider's reference at once, and the outcome arrives later as a signed
callback on ``POST /v1/providers/{provider}/callbacks``. The service verifies the signature
(HMAC-SHA256, ``shared.webhooks``) with the provider's secret before it asks the adapter to
parse the body, and deduplicates callbacks by the provider's event id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from shared.money import Money


class CallbackType(StrEnum):
    """What a provider callback reports."""

    PAYMENT_CONFIRMED = "payment.confirmed"
    PAYMENT_FAILED = "payment.failed"
    PAYOUT_SETTLED = "payout.settled"
    PAYOUT_RETURNED = "payout.returned"


@dataclass(frozen=True, slots=True)
class ProviderHandle:
    """The provider's answer to a started payment or payout."""

    provider_ref: str
    status: str


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A verified callback, parsed into provider-neutral terms."""

    event_id: str
    type: CallbackType
    provider_ref: str
    amount: Money


class CallbackFormatError(ValueError):
    """A correctly signed callback whose body this adapter cannot read."""


class PaymentProvider(Protocol):
    """A payment-provider adapter."""

    name: str

    def start_payment(self, *, payment_id: str, amount: Money, reference: str) -> ProviderHandle:
        """Ask the provider to collect ``amount`` from the buyer; the outcome is a callback."""
        ...

    def start_payout(self, *, payout_id: str, amount: Money, payee: str) -> ProviderHandle:
        """Ask the provider to send ``amount`` to ``payee``; the outcome is a callback."""
        ...

    def parse_callback(self, body: bytes) -> ProviderEvent:
        """Read a verified callback body; ``CallbackFormatError`` when it is malformed."""
        ...
