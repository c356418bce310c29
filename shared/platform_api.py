"""Routes every service offers: webhook subscriptions and its audit trail."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel, Field, HttpUrl
from sqlalchemy import select, update

from shared.api import ContextDep, SessionDep, service_router
from shared.audit import audit_entries, verify_chain
from shared.auth import Principal, Role, require_roles
from shared.changes import record_change
from shared.clock import utc_iso
from shared.errors import NotFound
from shared.webhooks import create_subscription

SubscriberDep = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.MARKETPLACE, Role.SERVICE))]
AuditorDep = Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.ADMIN))]


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


def platform_router() -> Any:
    """Webhook subscription and audit routes."""
    router = service_router(prefix="/v1", tags=["platform"])

    @router.post("/webhooks", status_code=201, response_model=SubscriptionOut)
    def subscribe(
        body: SubscriptionIn, ctx: ContextDep, session: SessionDep, principal: SubscriberDep
    ) -> SubscriptionOut:
        """Subscribe a URL to events; the signing secret is returned once."""
        now = ctx.clock.now()
        sub_id, secret = create_subscription(
            session,
            ctx.tables,
            ctx.keyring,
            url=str(body.url),
            topics=body.topics,
            owner=principal.owner,
            now=now,
        )
        record_change(
            session,
            ctx,
            actor=principal.actor,
            action="webhook.subscribed",
            subject=f"webhook:{sub_id}",
            payload={"url": str(body.url), "topics": sorted(set(body.topics))},
            event=False,
        )
        return SubscriptionOut(
            id=sub_id,
            url=str(body.url),
            topics=sorted(set(body.topics)),
            owner=principal.owner,
            active=True,
            created_at=utc_iso(now),
            secret=secret,
        )

    @router.get("/webhooks", response_model=list[SubscriptionOut])
    def list_subscriptions(
        ctx: ContextDep, session: SessionDep, principal: SubscriberDep
    ) -> list[SubscriptionOut]:
        """Subscriptions visible to the caller."""
        t = ctx.tables.webhook_subscriptions
        query = select(t).order_by(t.c.created_at)
        if principal.owner is not None:
            query = query.where(t.c.owner == principal.owner)
        return [
            SubscriptionOut(
                id=r["id"],
                url=r["url"],
                topics=json.loads(r["topics"]),
                owner=r["owner"],
                active=r["active"],
                created_at=utc_iso(r["created_at"]),
            )
            for r in session.execute(query).mappings()
        ]

    @router.post("/webhooks/{subscription_id}/deactivate", response_model=SubscriptionOut)
    def deactivate(
        subscription_id: str, ctx: ContextDep, session: SessionDep, principal: SubscriberDep
    ) -> SubscriptionOut:
        """Stop delivering to a subscription."""
        t = ctx.tables.webhook_subscriptions
        row = session.execute(select(t).where(t.c.id == subscription_id)).mappings().first()
        if row is None or not principal.can_see(row["owner"]):
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
            topics=json.loads(row["topics"]),
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
