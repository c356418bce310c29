"""A service subscribing itself to another service's events, through that service's API.

Loans receives escrow's ``assignment.swept``; scoring receives loans' ``loan.outcome``. In
each case the receiver makes the subscription itself, over the publisher's
``/v1/webhooks`` with its own service credential (a ``PlatformClient``) — never by writing
the publisher's tables — and keeps the signing secret beside its other secrets:

- when the operator configured the receiver's webhook secret, the operator made the
  subscription; nothing is done (``configured``);
- otherwise the receiver's worker job (:func:`until_subscribed`) checks that the publisher
  holds an active subscription for the receiver's inbound URL and that the receiver holds
  its secret (a :class:`SubscriptionFile`, mode 0600). If both are there it is ``present``;
  if either is missing it deactivates the stale subscriptions for that URL, subscribes
  anew, and writes the new subscription's id and secret together, in one file replaced
  atomically (``subscribed``). The publisher being down leaves everything as it was until
  the next run.

The subscribe call's Idempotency-Key is derived from what the check saw (the URL, the topics,
every subscription the publisher showed for that URL and whether it was active, the id the
receiver holds). Two workers (or replicas) that check at the same moment see the same thing,
send the same key, and the publisher answers the second with the first's subscription and
secret: one subscription, one secret, whichever of them writes the file. A later check that
finds something else changed (a subscription deactivated, the file lost) sends a new key.

A lost answer can leave a second subscription whose secret the receiver never saw; the next
run deactivates it. Deliveries to both in between are deduplicated by event id on receipt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from shared.clients.platform import WebhookSubscription
from shared.http_client import ServiceCallError


class WebhookPublisher(Protocol):
    """The publisher's ``/v1/webhooks`` routes, as ``shared.clients.platform.PlatformClient`` calls them."""

    def subscriptions(self) -> list[WebhookSubscription]:
        """The subscriptions the caller's key may see."""
        ...

    def subscribe(self, *, url: str, topics: list[str], idempotency_key: str) -> WebhookSubscription:
        """Subscribe ``url``; the answer carries the secret."""
        ...

    def deactivate_subscription(self, subscription_id: str, *, idempotency_key: str) -> WebhookSubscription:
        """Stop delivering to a subscription."""
        ...


@dataclass(frozen=True)
class SubscriptionOutcome:
    """What one check of the subscription found or did."""

    status: str
    """``configured`` (by the operator), ``present`` or ``subscribed``."""
    subscription_id: str | None = None


@dataclass(frozen=True)
class SubscriptionFile:
    """The receiver's own subscription: id and secret in one JSON file (mode 0600)."""

    path: Path

    def read(self) -> tuple[str | None, str | None]:
        """(subscription id, secret); (None, None) when the file is missing or unreadable.

        The file is written atomically, so an id never stands without its secret or the reverse.
        """
        try:
            stored = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None, None
        if not isinstance(stored, dict):
            return None, None
        sub_id, secret = stored.get("subscription_id"), stored.get("secret")
        return (sub_id if isinstance(sub_id, str) else None), (
            secret if isinstance(secret, str) and secret else None
        )

    def write(self, subscription_id: str, secret: str) -> None:
        """Replace the file with this subscription, atomically, readable by its owner only."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"subscription_id": subscription_id, "secret": secret}, fh)
        partial.replace(self.path)  # the inbound route never reads half a secret


def ensure_subscription(
    publisher: WebhookPublisher,
    *,
    subscriber: str,
    url: str,
    topics: Sequence[str],
    stored: SubscriptionFile,
    configured_secret: str | None,
) -> SubscriptionOutcome:
    """Make sure ``publisher`` delivers ``topics`` to ``url`` and ``stored`` holds the secret.

    ``subscriber`` names the receiving service (in idempotency keys and the log).
    """
    if configured_secret:
        return SubscriptionOutcome("configured")
    seen = [s for s in publisher.subscriptions() if s.url == url]
    ours = [s for s in seen if s.active]
    known, secret = stored.read()
    if secret and known in {s.id for s in ours}:
        return SubscriptionOutcome("present", known)
    for stale in ours:
        publisher.deactivate_subscription(stale.id, idempotency_key=f"{subscriber}-unsubscribe-{stale.id}")
    created = publisher.subscribe(
        url=url, topics=list(topics), idempotency_key=_subscribe_key(subscriber, url, topics, seen, known)
    )
    if not created.secret:
        raise RuntimeError("the publisher created the subscription but returned no signing secret")
    stored.write(created.id, created.secret)
    logging.getLogger(f"agrifin.{subscriber}.subscription").info(
        "subscribed %s (%s) to %s: subscription %s", subscriber, url, ", ".join(topics), created.id
    )
    return SubscriptionOutcome("subscribed", created.id)


def _subscribe_key(
    subscriber: str, url: str, topics: Sequence[str], seen: Sequence[WebhookSubscription], known: str | None
) -> str:
    """The subscribe call's Idempotency-Key: the same for two checks that saw the same state."""
    state = {
        "url": url,
        "topics": sorted(topics),
        "seen": sorted([s.id, s.active] for s in seen),
        "known": known,
    }
    digest = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()
    return f"{subscriber}-subscribe-{digest[:40]}"


def until_subscribed(
    ensure: Callable[[], SubscriptionOutcome], *, publisher: str, log: logging.Logger
) -> Callable[[], SubscriptionOutcome | None]:
    """A periodic job: run ``ensure`` until it succeeds once, then do nothing.

    While ``publisher`` cannot be reached (or refuses) the job logs a warning and tries
    again on its next run.
    """
    done = threading.Event()

    def subscribe() -> SubscriptionOutcome | None:
        if done.is_set():
            return None
        try:
            outcome = ensure()
        except ServiceCallError as exc:
            log.warning("cannot subscribe to %s's events yet: %s", publisher, exc)
            return None
        done.set()
        return outcome

    return subscribe
