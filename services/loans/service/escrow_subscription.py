"""Loans subscribes itself to escrow's ``assignment.swept`` events, through escrow's API.

Escrow sweeps a share of each release of a seller with an assigned loan to the lender and
emits ``assignment.swept``; loans turns each into a sale-proceeds repayment. Loans must
therefore be a subscriber of escrow's webhooks, and it makes that subscription itself, over
escrow's ``/v1/webhooks`` with its own service credential (``shared.clients.escrow``) —
never by writing escrow's tables:

- when ``AGRIFIN_LOANS_ESCROW_WEBHOOK_SECRET`` is set the operator made the subscription;
  nothing is done;
- otherwise (the embedded default) the worker's ``loans.escrow.subscribe`` job checks that
  escrow holds an active subscription for loans' inbound URL and that loans holds its
  secret (``<var_dir>/escrow-webhook.secret``, mode 0600). If either is missing it
  deactivates the stale subscriptions for that URL and subscribes anew, then writes the
  subscription's id and secret together, in one file replaced atomically. Escrow being
  down leaves things as they are until the next run.

A lost answer can leave a second subscription whose secret loans never saw; the next run
deactivates it. Deliveries to both in between are deduplicated by event id on receipt.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import dataclass

import httpx

from services.loans.settings import ESCROW_SECRET_FILE, LoansSettings
from shared.clients.escrow import EscrowClient

log = logging.getLogger("agrifin.loans.escrow_subscription")

TOPICS = ["assignment.swept"]


@dataclass(frozen=True)
class SubscriptionOutcome:
    """What one check of the subscription found or did."""

    status: str
    """``configured`` (by the operator), ``present`` or ``subscribed``."""
    subscription_id: str | None = None


def build_escrow_client(
    settings: LoansSettings, *, transport: httpx.BaseTransport | None = None
) -> EscrowClient:
    """An EscrowClient from settings (URL, service key, timeout); ``transport`` for tests."""
    timeout = httpx.Timeout(
        settings.escrow_timeout_seconds, connect=min(2.0, settings.escrow_timeout_seconds)
    )
    client = httpx.Client(base_url=settings.escrow_url, timeout=timeout, transport=transport)
    return EscrowClient(client, api_key=settings.resolved_escrow_api_key)


def _write_subscription(settings: LoansSettings, subscription_id: str, secret: str) -> None:
    path = settings.var_dir / ESCROW_SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"subscription_id": subscription_id, "secret": secret}, fh)
    partial.replace(path)  # atomic: the inbound route never reads half a secret


def ensure_escrow_subscription(settings: LoansSettings, escrow: EscrowClient) -> SubscriptionOutcome:
    """Make sure escrow delivers ``assignment.swept`` to loans and loans can verify it."""
    if settings.escrow_webhook_secret:
        return SubscriptionOutcome("configured")
    url = settings.inbound_escrow_url
    ours = [s for s in escrow.subscriptions() if s.url == url and s.active]
    known, _ = settings.stored_escrow_subscription
    if settings.resolved_escrow_webhook_secret and known in {s.id for s in ours}:
        return SubscriptionOutcome("present", known)
    for stale in ours:
        escrow.deactivate_subscription(stale.id, idempotency_key=f"loans-unsubscribe-{stale.id}")
    created = escrow.subscribe(url=url, topics=TOPICS, idempotency_key=f"loans-subscribe-{uuid.uuid4()}")
    if not created.secret:
        raise RuntimeError("escrow created the subscription but returned no signing secret")
    _write_subscription(settings, created.id, created.secret)
    log.info("subscribed loans (%s) to escrow's %s: subscription %s", url, ", ".join(TOPICS), created.id)
    return SubscriptionOutcome("subscribed", created.id)
