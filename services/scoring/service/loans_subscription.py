"""Scoring subscribes itself to loans' ``loan.outcome`` events, through loans' API.

Loans reports what became of each loan a score decided (repaid, 30/60/90 days past due,
written off) as ``loan.outcome`` events; scoring records them (``service.outcomes``) and
measures its models against them (``service.performance``, the model card). Scoring must
therefore be a subscriber of loans' webhooks, and it makes that subscription itself, over
loans' ``/v1/webhooks`` with its own credential, ``service:scoring``
(``shared.clients.loans``) — never by writing loans' tables. The mechanism is the one loans
uses for escrow's events (``shared.self_subscription``):

- when ``AGRIFIN_SCORING_LOANS_WEBHOOK_SECRET`` is set the operator made the subscription;
  nothing is done;
- otherwise (the embedded default) the worker's ``scoring.loans.subscribe`` job checks that
  loans holds an active subscription for scoring's inbound URL
  (``AGRIFIN_SCORING_PUBLIC_URL`` + ``/v1/inbound/loans``) and that scoring holds its
  secret (``<var_dir>/loans-webhook.secret``, mode 0600); if either is missing it
  deactivates the stale subscriptions for that URL and subscribes anew. Loans being down
  leaves things as they are until the next run.
"""

from __future__ import annotations

import httpx

from services.scoring.settings import ScoringSettings
from shared.clients.loans import LoansClient
from shared.http_client import sender
from shared.self_subscription import SubscriptionOutcome, ensure_subscription

TOPICS = ["loan.outcome"]


def build_loans_client(
    settings: ScoringSettings, *, transport: httpx.BaseTransport | None = None
) -> LoansClient:
    """A LoansClient from settings (URL, scoring's service key, timeout); ``transport`` for tests."""
    timeout = settings.loans_timeout_seconds
    client = sender(settings.loans_url, timeout=timeout, connect=min(2.0, timeout), transport=transport)
    return LoansClient(client, api_key=settings.resolved_loans_api_key, service="loans")


def ensure_loans_subscription(settings: ScoringSettings, loans: LoansClient) -> SubscriptionOutcome:
    """Make sure loans delivers ``loan.outcome`` to scoring and scoring can verify it."""
    return ensure_subscription(
        loans,
        subscriber="scoring",
        url=settings.inbound_loans_url,
        topics=TOPICS,
        stored=settings.loans_subscription_file,
        configured_secret=settings.loans_webhook_secret,
    )
