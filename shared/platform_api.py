"""Routes every service offers: webhook subscriptions and its audit trail.

Who may subscribe to a service's events, and to which (``subscriber_scope``):

- an admin: to any topic, every owner's events (the subscription has no owner);
- a marketplace key: on escrow only, to any topic, and it receives only its own escrows'
  events (the subscription takes the key's owner; fan-out matches owners). Loans' and
  scoring's events are not a marketplace's business: 403 there (and it has none to list);
- a service credential (``service:<name>``): only to the topics ``SERVICE_TOPICS`` grants
  that caller on this service (``service:loans`` on escrow: ``assignment.*``, the sweeps it
  turns into repayments, of every marketplace; ``service:scoring`` on loans: ``loan.outcome``,
  what became of the loans its scores decided), never ``*``; anywhere else 403 (and nothing
  to list). Its subscription has no owner, so the topic list is what bounds it: the sweeps
  carry their escrow's marketplace as owner, so "events without an owner" would miss them.
  It sees and may deactivate the ownerless subscriptions within its topics (loans replaces
  its own that way).

``platform_router(service)`` declares exactly the subscribers of ``service``; called without
it, the webhook routes declare every possible subscriber and refuse the others per service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel, Field, HttpUrl
from sqlalchemy import select, update

from shared.api import ContextDep, SessionDep, service_router
from shared.audit import audit_entries, verify_chain
from shared.auth import Access, Principal, Role, require_roles, service_caller
from shared.changes import record_change
from shared.clock import utc_iso
from shared.errors import Forbidden, NotFound
from shared.platform import ServiceContext
from shared.webhooks import create_subscription

SERVICE_TOPICS: dict[str, dict[str, frozenset[str]]] = {
    "escrow": {"loans": frozenset({"assignment.*"})},
    "loans": {"scoring": frozenset({"loan.outcome"})},
}
"""Service subscribed to -> calling service -> the topics that caller may subscribe to."""

MARKETPLACE_SUBSCRIBES_TO = frozenset({"escrow"})
"""The services whose events a marketplace key may subscribe to (its own escrows')."""

AuditorDep = Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.ADMIN))]


@dataclass(frozen=True)
class SubscriberScope:
    """What one caller's subscriptions on one service may cover."""

    owner: str | None
    """The owner its subscriptions take (None: every owner's events)."""
    topics: frozenset[str] | None
    """The topics it may subscribe to (None: any)."""

    def allows(self, topic: str) -> bool:
        """Whether a subscription to ``topic`` stays within the scope."""
        if self.topics is None or topic in self.topics:
            return True
        return topic != "*" and f"{topic.split('.')[0]}.*" in self.topics

    def sees(self, owner: str | None, topics: list[str]) -> bool:
        """Whether a stored subscription (its owner and topics) is one this caller could make."""
        if self.owner is not None:
            return owner == self.owner
        return self.topics is None or (owner is None and all(self.allows(t) for t in topics))


def subscriber_scope(ctx: ServiceContext, principal: Principal) -> SubscriberScope | None:
    """The caller's subscription scope on this service; None when it may not subscribe here."""
    service = ctx.definition.name
    if principal.role is Role.ADMIN:
        return SubscriberScope(owner=None, topics=None)
    if principal.role is Role.MARKETPLACE and service in MARKETPLACE_SUBSCRIBES_TO:
        return SubscriberScope(owner=principal.owner, topics=None)
    if principal.role is Role.SERVICE and principal.owner is not None:
        topics = SERVICE_TOPICS.get(service, {}).get(principal.owner)
        if topics is not None:
            return SubscriberScope(owner=None, topics=topics)
    return None


class SubscriptionIn(BaseModel):
    """A webhook subscription request."""

    url: HttpUrl
    topics: list[str] = Field(default_factory=lambda: ["*"], min_length=1, max_length=50)


class SubscriptionOut(BaseModel):
    """A subscription; ``secret`` is only present in the creation response."""

    id: str
    url: str
    topics: list[str]
    owner: str | None
    active: bool
    created_at: str
    secret: str | None = None


def subscriber_access(service: str | None) -> Access:
    """Who may call the webhook routes of ``service`` (of any service, when None)."""
    if service is None:
        names = sorted({caller for callers in SERVICE_TOPICS.values() for caller in callers})
        return require_roles(Role.ADMIN, Role.MARKETPLACE, *(service_caller(n) for n in names))
    marketplace = [Role.MARKETPLACE] if service in MARKETPLACE_SUBSCRIBES_TO else []
    services = [service_caller(n) for n in sorted(SERVICE_TOPICS.get(service, {}))]
    return require_roles(Role.ADMIN, *marketplace, *services)


def platform_router(service: str | None = None) -> Any:
    """Webhook subscription and audit routes (of ``service``: its subscribers declared exactly;
    without it, the webhook routes declare every possible subscriber and refuse per service)."""
    router = service_router(prefix="/v1", tags=["platform"])
    subscriber = subscriber_access(service)

    @router.post("/webhooks", status_code=201, response_model=SubscriptionOut)
    def subscribe(
        body: SubscriptionIn, ctx: ContextDep, session: SessionDep, principal: Principal = Depends(subscriber)
    ) -> SubscriptionOut:
        """Subscribe a URL to events; the signing secret is returned once."""
        scope = subscriber_scope(ctx, principal)
        if scope is None:
            raise Forbidden(f"{principal.credential!r} may not subscribe to {ctx.definition.name}'s events")
        topics = sorted(set(body.topics))
        refused = [t for t in topics if not scope.allows(t)]
        if refused:
            raise Forbidden(
                f"{principal.credential!r} may not subscribe to {', '.join(refused)}",
                allowed_topics=sorted(scope.topics or ()),
            )
        now = ctx.clock.now()
        sub_id, secret = create_subscription(
            session,
            ctx.tables,
            ctx.keyring,
            url=str(body.url),
            topics=body.topics,
            owner=scope.owner,
            now=now,
        )
        record_change(
            session,
            ctx,
            actor=principal.actor,
            action="webhook.subscribed",
            subject=f"webhook:{sub_id}",
            payload={"url": str(body.url), "topics": topics},
            event=False,
        )
        return SubscriptionOut(
            id=sub_id,
            url=str(body.url),
            topics=topics,
            owner=scope.owner,
            active=True,
            created_at=utc_iso(now),
            secret=secret,
        )

    @router.get("/webhooks", response_model=list[SubscriptionOut])
    def list_subscriptions(
        ctx: ContextDep, session: SessionDep, principal: Principal = Depends(subscriber)
    ) -> list[SubscriptionOut]:
        """Subscriptions visible to the caller."""
        scope = subscriber_scope(ctx, principal)
        if scope is None:
            return []  # a caller that may not subscribe here has no subscription here
        t = ctx.tables.webhook_subscriptions
        query = select(t).order_by(t.c.created_at)
        if scope.owner is not None:
            query = query.where(t.c.owner == scope.owner)
        rows = [(r, json.loads(r["topics"])) for r in session.execute(query).mappings()]
        return [
            SubscriptionOut(
                id=r["id"],
                url=r["url"],
                topics=topics,
                owner=r["owner"],
                active=r["active"],
                created_at=utc_iso(r["created_at"]),
            )
            for r, topics in rows
            if scope.sees(r["owner"], topics)
        ]

    @router.post("/webhooks/{subscription_id}/deactivate", response_model=SubscriptionOut)
    def deactivate(
        subscription_id: str, ctx: ContextDep, session: SessionDep, principal: Principal = Depends(subscriber)
    ) -> SubscriptionOut:
        """Stop delivering to a subscription."""
        scope = subscriber_scope(ctx, principal)
        t = ctx.tables.webhook_subscriptions
        row = session.execute(select(t).where(t.c.id == subscription_id)).mappings().first()
        topics = json.loads(row["topics"]) if row is not None else []
        if row is None or scope is None or not scope.sees(row["owner"], topics):
            raise NotFound(f"webhook subscription {subscription_id} not found")
        session.execute(update(t).where(t.c.id == subscription_id).values(active=False))
        record_change(
            session,
            ctx,
            actor=principal.actor,
            action="webhook.deactivated",
            subject=f"webhook:{subscription_id}",
            payload={},
            event=False,
        )
        return SubscriptionOut(
            id=row["id"],
            url=row["url"],
            topics=topics,
            owner=row["owner"],
            active=False,
            created_at=utc_iso(row["created_at"]),
        )

    @router.get("/audit/entries")
    def list_audit(
        ctx: ContextDep,
        session: SessionDep,
        _: AuditorDep,
        subject: str | None = None,
        after_seq: int = Query(0, ge=0),
        limit: int = Query(100, ge=1, le=1000),
    ) -> dict[str, Any]:
        """Audit entries in chain order."""
        return {
            "entries": audit_entries(session, ctx.tables, subject=subject, limit=limit, after_seq=after_seq)
        }

    @router.get("/audit/verify")
    def verify_audit(
        ctx: ContextDep,
        session: SessionDep,
        _: AuditorDep,
        expect_head: str | None = Query(None, pattern=r"^\d+:[0-9a-f]{64}$"),
    ) -> dict[str, Any]:
        """Verify this service's audit chain, name the first broken entry, and report the head
        (record it; pass it back as ``expect_head`` later to detect a truncated chain)."""
        return verify_chain(session, ctx.tables, ctx.keyring, expect_head=expect_head).as_dict()

    return router
