"""Typed client of the escrow service over an injected ``httpx.Client``.

Today: its webhook subscriptions (``/v1/webhooks``), which loans uses to subscribe itself to
escrow's ``assignment.swept`` events. Errors are the shared client's ``ServiceUnreachable``
and ``UpstreamProblem``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared.http_client import ServiceClient, UpstreamProblem


class WebhookSubscription(BaseModel):
    """A subscription to escrow's events; ``secret`` only in the answer that created it."""

    model_config = ConfigDict(extra="ignore")

    id: str
    url: str
    topics: list[str] = Field(default_factory=list)
    active: bool
    secret: str | None = None


_SUBSCRIPTIONS = TypeAdapter(list[WebhookSubscription])


def _parse_error(path: str, exc: ValidationError) -> UpstreamProblem:
    return UpstreamProblem(
        502, {"title": "Bad Gateway", "detail": f"escrow answered {path} unexpectedly: {exc}"}
    )


class EscrowClient(ServiceClient):
    """Calls the escrow service."""

    def subscriptions(self) -> list[WebhookSubscription]:
        """The webhook subscriptions this caller's key may see."""
        response = self.request("GET", "/v1/webhooks")
        try:
            return _SUBSCRIPTIONS.validate_python(response.json())
        except ValidationError as exc:
            raise _parse_error("GET /v1/webhooks", exc) from None

    def subscribe(self, *, url: str, topics: list[str], idempotency_key: str) -> WebhookSubscription:
        """Subscribe ``url`` to ``topics``; the answer carries the signing secret (once)."""
        response = self.request(
            "POST", "/v1/webhooks", json={"url": url, "topics": topics}, idempotency_key=idempotency_key
        )
        try:
            return WebhookSubscription.model_validate(response.json())
        except ValidationError as exc:
            raise _parse_error("POST /v1/webhooks", exc) from None

    def deactivate_subscription(self, subscription_id: str, *, idempotency_key: str) -> WebhookSubscription:
        """Stop escrow delivering to a subscription."""
        path = f"/v1/webhooks/{subscription_id}/deactivate"
        response = self.request("POST", path, idempotency_key=idempotency_key)
        try:
            return WebhookSubscription.model_validate(response.json())
        except ValidationError as exc:
            raise _parse_error(f"POST {path}", exc) from None
