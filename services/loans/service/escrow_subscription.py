"""Loans subscribes itself to escrow's ``assignment.swept`` events, through escrow's API.

Escrow sweeps a share of each release of a seller with an assigned loan to the lender and
emits ``assignment.swept``; loans turns each into a sale-proceeds repayment. Loans must
therefore be a subscriber of escrow's webhooks, and it makes that subscription itself, over
escrow's ``/v1/webhooks`` with its own service credential (``shared.clients.escrow``) —
never by writing escrow's tables. The mechanism is ``shared.self_subscription`` (scoring
subscribes itself to loans' outcomes the same way):

- when ``AGRIFIN_LOANS_ESCROW_WEBHOOK_SECRET`` is set the operator made the subscription;
  nothing is done;
- otherwise (the embedded default) the worker's ``loans.escrow.subscribe`` job checks that
  escrow holds an active subscription for loans' inbound URL and that loans holds its
  secret (``<var_dir>/escrow-webhook.secret``, mode 0600). If either is missing it
  deactivates the stale subscriptions for that URL and subscribes anew, then writes the
  subscription's id and secret together, in one file replaced atomically. Escrow being
  down leaves things as they are until the next run.
"""

from __future__ import annotations

import httpx

from services.loans.settings import ESCROW_SECRET_FILE, LoansSettings
from shared.clients.escrow import EscrowClient
from shared.http_client import sender
from shared.self_subscription import SubscriptionFile, SubscriptionOutcome, ensure_subscription

__all__ = ["TOPICS", "SubscriptionOutcome", "build_escrow_client", "ensure_escrow_subscription"]

TOPICS = ["assignment.swept"]


def build_escrow_client(
    settings: LoansSettings, *, transport: httpx.BaseTransport | None = None
) -> EscrowClient:
    """An EscrowClient from settings (URL, service key, timeout); ``transport`` for tests."""
    timeout = settings.escrow_timeout_seconds
    client = sender(settings.escrow_url, timeout=timeout, connect=min(2.0, timeout), transport=transport)
    return EscrowClient(client, api_key=settings.resolved_escrow_api_key)


def ensure_escrow_subscription(settings: LoansSettings, escrow: EscrowClient) -> SubscriptionOutcome:
    """Make sure escrow delivers ``assignment.swept`` to loans and loans can verify it."""
    return ensure_subscription(
        escrow,
        subscriber="loans",
        url=settings.inbound_escrow_url,
        topics=TOPICS,
        stored=SubscriptionFile(settings.var_dir / ESCROW_SECRET_FILE),
        configured_secret=settings.escrow_webhook_secret,
    )
