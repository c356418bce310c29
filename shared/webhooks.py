"""Transactional outbox and signed webhooks (sender and receiver sides).

Sender: ``emit_event`` writes an event row in the caller's transaction, so the event exists
if and only if the change it reports committed. The worker then fans events out to matching
subscriptions (``dispatch_events``) and delivers them (``deliver_due``) with
``X-Agrifin-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``, exponential
backoff with jitter, and a delivery log (``webhook_deliveries``). Delivery is at least once.

Receiver: ``verify_signature_header`` checks the signature within a 300 s tolerance and
``record_inbox`` deduplicates by event id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.clock import utc_iso
from shared.crypto import Keyring, canonical_json
from shared.db import Database
from shared.platform_tables import PlatformTables

log = logging.getLogger("agrifin.webhooks")

SIGNATURE_HEADER = "X-Agrifin-Signature"
EVENT_ID_HEADER = "X-Agrifin-Event-Id"
TOPIC_HEADER = "X-Agrifin-Topic"
TOLERANCE_SECONDS = 300
MAX_ATTEMPTS = 12
BASE_BACKOFF_SECONDS = 10
MAX_BACKOFF_SECONDS = 6 * 3600


class WebhookSignatureError(Exception):
    """A webhook whose signature is missing, wrong or outside the tolerance."""


def sign_payload(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature_header(
    secret: str, body: bytes, header: str | None, *, now: datetime,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """Check a signature header; return its timestamp or raise WebhookSignatureError."""
    if not header:
        raise WebhookSignatureError("missing signature header")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
        received = parts["v1"]
    except (KeyError, ValueError) as exc:
        raise WebhookSignatureError("malformed signature header") from exc
    expected = sign_payload(secret, body, timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, received):
        raise WebhookSignatureError("signature does not match")
    if abs(now.timestamp() - timestamp) > tolerance:
        raise WebhookSignatureError(f"timestamp outside the {tolerance} s tolerance")
    return timestamp


def record_inbox(
    session: Session, tables: PlatformTables, *, event_id: str, source: str, topic: str,
    now: datetime,
) -> bool:
    """Remember a received event; False when it was already seen (a duplicate)."""
    try:
        with session.begin_nested():
            session.execute(tables.webhook_inbox.insert().values(
                event_id=event_id, source=source, topic=topic, received_at=now,
            ))
    except IntegrityError:
        return False
    return True


def outbox_row(
    *, topic: str, subject: str, data: dict[str, Any], now: datetime, owner: str | None = None
) -> dict[str, Any]:
    """One outbox row (for ``emit_events``); its ``id`` is the event id."""
    return {"id": str(uuid.uuid4()), "topic": topic, "subject": subject, "owner": owner,
            "payload": canonical_json(data), "created_at": now, "dispatched_at": None}


def emit_events(session: Session, tables: PlatformTables, rows: list[dict[str, Any]]) -> None:
    """Write many outbox rows (from ``outbox_row``) in one multi-row insert, in the caller's transaction."""
    if rows:
        session.execute(tables.outbox.insert(), rows)


def emit_event(
    session: Session, tables: PlatformTables, *, topic: str, subject: str,
    data: dict[str, Any], now: datetime, owner: str | None = None,
) -> str:
    """Write an outbox event in the caller's transaction; return its id."""
    row = outbox_row(topic=topic, subject=subject, data=data, now=now, owner=owner)
    emit_events(session, tables, [row])
    return str(row["id"])


def create_subscription(
    session: Session, tables: PlatformTables, keyring: Keyring, *, url: str, topics: list[str],
    owner: str | None, now: datetime,
) -> tuple[str, str]:
    """Subscribe ``url`` to ``topics`` (``["*"]`` for all); return (id, secret shown once)."""
    sub_id = str(uuid.uuid4())
    secret = "whsec_" + secrets.token_urlsafe(32)
    session.execute(tables.webhook_subscriptions.insert().values(
        id=sub_id, url=url, topics=json.dumps(sorted(set(topics))), owner=owner,
        secret_enc=keyring.encrypt(secret, context=f"webhook:{sub_id}"), active=True, created_at=now,
    ))
    return sub_id, secret


def _matches(topics: set[str], topic: str) -> bool:
    return "*" in topics or topic in topics or f"{topic.split('.')[0]}.*" in topics


def dispatch_events(db: Database, tables: PlatformTables, *, now: datetime, batch: int = 500) -> int:
    """Fan undispatched outbox events out to matching subscriptions; return events handled."""
    ev, sub = tables.outbox, tables.webhook_subscriptions
    with db.unit_of_work() as session:
        query = select(ev).where(ev.c.dispatched_at.is_(None)).order_by(ev.c.created_at).limit(batch)
        if not db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        events = session.execute(query).mappings().all()
        if not events:
            return 0
        subs = [(s["id"], s["owner"], set(json.loads(s["topics"])))
                for s in session.execute(select(sub).where(sub.c.active.is_(True))).mappings()]
        deliveries = [
            {"event_id": event["id"], "subscription_id": sub_id, "state": "pending", "attempts": 0,
             "next_attempt_at": now}
            for event in events
            for sub_id, owner, topics in subs
            if (owner is None or owner == event["owner"]) and _matches(topics, event["topic"])
        ]
        if deliveries:
            session.execute(tables.webhook_deliveries.insert(), deliveries)
        session.execute(update(ev).where(ev.c.id.in_([e["id"] for e in events])).values(dispatched_at=now))
        return len(events)


def backoff_delay(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with full jitter after ``attempts`` failures."""
    ceiling = min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=(rng or random).uniform(ceiling / 2, ceiling))


def event_body(event: dict[str, Any]) -> bytes:
    """The JSON body a subscriber receives for an outbox event."""
    return canonical_json({
        "id": event["id"], "topic": event["topic"], "subject": event["subject"],
        "created_at": utc_iso(event["created_at"]), "data": json.loads(event["payload"]),
    }).encode("utf-8")


def deliver_due(
    db: Database, tables: PlatformTables, keyring: Keyring, client: httpx.Client, *,
    now: datetime, batch: int = 100,
) -> int:
    """Attempt every delivery that is due; return how many succeeded."""
    dl, ev, sub = tables.webhook_deliveries, tables.outbox, tables.webhook_subscriptions
    delivered = 0
    with db.unit_of_work() as session:
        query = (
            select(dl.c.id, dl.c.attempts, sub.c.id.label("sub_id"), sub.c.url, sub.c.secret_enc,
                   ev.c.id.label("event_id"), ev.c.topic, ev.c.subject, ev.c.payload, ev.c.created_at)
            .join(sub, sub.c.id == dl.c.subscription_id).join(ev, ev.c.id == dl.c.event_id)
            .where(dl.c.state == "pending", dl.c.next_attempt_at <= now)
            .order_by(dl.c.next_attempt_at).limit(batch)
        )
        if not db.is_sqlite:
            query = query.with_for_update(of=dl, skip_locked=True)
        for row in session.execute(query).mappings().all():
            body = event_body({"id": row["event_id"], "topic": row["topic"], "subject": row["subject"],
                               "created_at": row["created_at"], "payload": row["payload"]})
            secret = keyring.decrypt(row["secret_enc"], context=f"webhook:{row['sub_id']}")
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign_payload(secret, body, int(now.timestamp())),
                EVENT_ID_HEADER: row["event_id"], TOPIC_HEADER: row["topic"],
            }
            attempts = int(row["attempts"]) + 1
            status_code: int | None = None
            error: str | None = None
            try:
                response = client.post(row["url"], content=body, headers=headers)
                status_code = response.status_code
                ok = 200 <= response.status_code < 300
                if not ok:
                    error = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"
            values: dict[str, Any] = {"attempts": attempts, "last_status_code": status_code,
                                      "last_error": error}
            if ok:
                values.update(state="delivered", delivered_at=now)
                delivered += 1
            elif attempts >= MAX_ATTEMPTS:
                values.update(state="dead")
            else:
                values.update(next_attempt_at=now + backoff_delay(attempts))
            session.execute(update(dl).where(dl.c.id == row["id"]).values(**values))
    return delivered
