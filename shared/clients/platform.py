"""What every agrifin service serves beside its own API: webhook subscriptions
(``/v1/webhooks``: a service subscribes itself to another's events with them, see
``shared.self_subscription``), the audit trail (``/v1/audit/...``) and readiness. The typed
clients of the services subclass ``PlatformClient``."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared.http_client import ServiceClient, UpstreamProblem


class ChainVerification(BaseModel):
    """A service's audit-chain verification: ok, how many entries, the first broken one, the head."""

    model_config = ConfigDict(extra="ignore")

    ok: bool
    entries: int
    first_broken_seq: int | None = None
    """The broken entry's global ``seq``; None when the entry is missing."""
    first_broken_chain: int | None = None
    first_broken_chain_seq: int | None = None
    """Where the first break is: its chain (0 is the service-wide chain) and place in it."""
    reason: str | None = None
    head: str
    """Chain 0's head, ``<chain_seq>:<entry_hash>``: keep it elsewhere to detect a truncation."""
    chains: int = 0
    anchors: int = 0
    unanchored_entries: int = 0
    """Partition entries written after the newest anchor (a deletion of those shows only later)."""


class AuditEntry(BaseModel):
    """One entry of a service's audit chain."""

    model_config = ConfigDict(extra="ignore")

    seq: int
    chain: int = 0
    chain_seq: int = 0
    created_at: datetime
    actor: str
    action: str
    subject: str
    payload: dict[str, Any] | None = None


class WebhookSubscription(BaseModel):
    """A subscription to a service's events; ``secret`` only in the answer that created it."""

    model_config = ConfigDict(extra="ignore")

    id: str
    url: str
    topics: list[str] = Field(default_factory=list)
    active: bool
    secret: str | None = None


_ENTRIES = TypeAdapter(list[AuditEntry])
_SUBSCRIPTIONS = TypeAdapter(list[WebhookSubscription])


def unexpected_answer(what: str, exc: Exception) -> UpstreamProblem:
    """A 502 problem for an answer that does not parse as the client expects."""
    return UpstreamProblem(502, {"title": "Bad Gateway", "detail": f"unexpected answer to {what}: {exc}"})


def _subscription(what: str, response: httpx.Response) -> WebhookSubscription:
    try:
        return WebhookSubscription.model_validate(response.json())
    except (ValueError, ValidationError) as exc:
        raise unexpected_answer(what, exc) from None


class PlatformClient(ServiceClient):
    """The routes every service has: webhook subscriptions, audit verification and entries."""

    def subscriptions(self) -> list[WebhookSubscription]:
        """The webhook subscriptions this caller's key may see."""
        response = self.request("GET", "/v1/webhooks")
        try:
            return _SUBSCRIPTIONS.validate_python(response.json())
        except (ValueError, ValidationError) as exc:
            raise unexpected_answer("GET /v1/webhooks", exc) from None

    def subscribe(self, *, url: str, topics: list[str], idempotency_key: str) -> WebhookSubscription:
        """Subscribe ``url`` to ``topics``; the answer carries the signing secret (once)."""
        body = {"url": url, "topics": topics}
        response = self.request("POST", "/v1/webhooks", json=body, idempotency_key=idempotency_key)
        return _subscription("POST /v1/webhooks", response)

    def deactivate_subscription(self, subscription_id: str, *, idempotency_key: str) -> WebhookSubscription:
        """Stop the service delivering to a subscription."""
        path = f"/v1/webhooks/{quote(subscription_id, safe='')}/deactivate"
        response = self.request("POST", path, idempotency_key=idempotency_key)
        return _subscription(f"POST {path}", response)

    def verify_audit(self, *, expect_head: str | None = None) -> ChainVerification:
        """Verify the service's audit chain (auditor, admin)."""
        params = {"expect_head": expect_head} if expect_head else None
        response = self.request("GET", "/v1/audit/verify", params=params)
        try:
            return ChainVerification.model_validate(response.json())
        except (ValueError, ValidationError) as exc:
            raise unexpected_answer("GET /v1/audit/verify", exc) from None

    def audit_entries(
        self, *, subject: str | None = None, after_seq: int = 0, limit: int = 100
    ) -> list[AuditEntry]:
        """Audit entries in chain order, optionally of one subject (``loan:<id>``)."""
        params: dict[str, Any] = {"after_seq": after_seq, "limit": limit}
        if subject:
            params["subject"] = subject
        response = self.request("GET", "/v1/audit/entries", params=params)
        try:
            return _ENTRIES.validate_python(response.json().get("entries", []))
        except (ValueError, ValidationError, AttributeError) as exc:
            raise unexpected_answer("GET /v1/audit/entries", exc) from None
