"""Transactional outbox and signed webhooks: events, subscriptions, signatures, inbox.

Sender: ``emit_event`` writes an event row in the caller's transaction (at its commit, with
the transaction's other events), so the event exists if and only if the change it reports
committed; ``create_subscription`` makes a subscriber (its signing secret encrypted at rest).
The worker fans events out and delivers them (``shared.webhook_delivery``) with
``X-Agrifin-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.

Receiver: ``verify_signature_header`` checks the signature within a 300 s tolerance and
``record_inbox`` deduplicates by event id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Insert, Table
from sqlalchemy.orm import Session

from shared.commit_tail import Phase, at_commit, tail_state
from shared.crypto import Keyring, canonical_json
from shared.db import insert_if_absent, new_id
from shared.errors import BadRequest, ServiceUnavailable, Unauthorized
from shared.platform_tables import PlatformTables

log = logging.getLogger("agrifin.webhooks")

SIGNATURE_HEADER = "X-Agrifin-Signature"
EVENT_ID_HEADER = "X-Agrifin-Event-Id"
TOPIC_HEADER = "X-Agrifin-Topic"
TOLERANCE_SECONDS = 300


class WebhookSignatureError(Exception):
    """A webhook whose signature is missing, wrong or outside the tolerance."""


def sign_payload(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature_header(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    now: datetime,
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


def verified_event(
    secret: str | None, body: bytes, header: str | None, *, now: datetime, unconfigured: str
) -> dict[str, Any]:
    """The JSON object of a signed inbound event, or the problem a receiver answers: 503 without a
    secret (``unconfigured`` says which setting), 401 for a bad signature, 400 for a body that is
    not a JSON object."""
    if not secret:
        raise ServiceUnavailable(unconfigured)
    try:
        verify_signature_header(secret, body, header, now=now)
    except WebhookSignatureError as exc:
        raise Unauthorized(f"webhook signature rejected: {exc}") from exc
    try:
        event = json.loads(body)
    except ValueError as exc:
        raise BadRequest("the event body is not JSON") from exc
    if not isinstance(event, dict):
        raise BadRequest("the event body must be a JSON object")
    return event


def record_inbox(
    session: Session,
    tables: PlatformTables,
    *,
    event_id: str,
    source: str,
    topic: str,
    now: datetime,
) -> bool:
    """Remember a received event; False when it was already seen (a duplicate).

    One ``INSERT ... ON CONFLICT (event_id) DO NOTHING RETURNING``, no savepoint: a concurrent
    delivery of the same event waits for the first transaction and then inserts nothing."""
    claim = insert_if_absent(
        tables.webhook_inbox, session.get_bind().dialect.name, ("event_id",), ("event_id",)
    )
    claimed = session.execute(
        claim, {"event_id": event_id, "source": source, "topic": topic, "received_at": now}
    ).first()
    return claimed is not None


def outbox_row(
    *, topic: str, subject: str, data: dict[str, Any], now: datetime, owner: str | None = None
) -> dict[str, Any]:
    """One outbox row (for ``emit_events``); its ``id`` is the event id."""
    return {
        "id": new_id(),
        "topic": topic,
        "subject": subject,
        "owner": owner,
        "payload": canonical_json(data),
        "created_at": now,
        "dispatched_at": None,
    }


_OUTBOX_KEY = "agrifin.outbox.pending"


def emit_events(session: Session, tables: PlatformTables, rows: list[dict[str, Any]]) -> None:
    """Queue outbox rows (from ``outbox_row``) in the caller's transaction: every event of the
    transaction is written in one multi-row insert among its last statements (``shared.commit_tail``),
    or not at all when it rolls back."""
    if not rows:
        return
    pending: list[dict[str, Any]]
    pending, new = tail_state(session, _OUTBOX_KEY, list)
    if new:
        outbox = tables.outbox
        at_commit(session, lambda: session.execute(_outbox_insert(outbox), pending), phase=Phase.OUTBOX)
    pending.extend(rows)


@cache
def _outbox_insert(t: Table) -> Insert:
    """Built once per table (a statement built per request costs more than its execution)."""
    return t.insert()


def emit_event(
    session: Session,
    tables: PlatformTables,
    *,
    topic: str,
    subject: str,
    data: dict[str, Any],
    now: datetime,
    owner: str | None = None,
) -> str:
    """Write an outbox event in the caller's transaction; return its id."""
    row = outbox_row(topic=topic, subject=subject, data=data, now=now, owner=owner)
    emit_events(session, tables, [row])
    return str(row["id"])


def create_subscription(
    session: Session,
    tables: PlatformTables,
    keyring: Keyring,
    *,
    url: str,
    topics: list[str],
    owner: str | None,
    now: datetime,
) -> tuple[str, str]:
    """Subscribe ``url`` to ``topics`` (``["*"]`` for all); return (id, secret shown once)."""
    sub_id = new_id()
    secret = "whsec_" + secrets.token_urlsafe(32)
    session.execute(
        tables.webhook_subscriptions.insert().values(
            id=sub_id,
            url=url,
            topics=json.dumps(sorted(set(topics))),
            owner=owner,
            secret_enc=keyring.encrypt(secret, context=f"webhook:{sub_id}"),
            active=True,
            created_at=now,
        )
    )
    return sub_id, secret
