"""Webhook delivery: fan-out of outbox events and at-least-once, signed sends.

``dispatch_events`` fans undispatched outbox events out to the matching active
subscriptions (one ``webhook_deliveries`` row each). ``deliver_due`` sends what is due, with
exponential backoff with jitter and a delivery log. Delivery is at least once, in no
guaranteed order.

``deliver_due`` never holds a transaction across HTTP (on SQLite that would block every
writer of the service for as long as a subscriber takes to answer). It works in three steps:

1. claim (``claim_due``, one short transaction): lease a batch of due deliveries by writing
   a ``lease_token`` and ``leased_until`` on them (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
   the write lock on SQLite), so no other worker, replica or retry sends them while the
   lease runs; a lease that expires (a worker died) makes the delivery claimable again.
   The claim reads the URL, decrypted secret and event body, counts the attempt, and
   cancels (``state='cancelled'``) due deliveries whose subscription was deactivated;
2. send (``send_delivery``, no transaction open): on a small thread pool, at most
   ``per_subscriber`` at a time per subscriber (URL origin) so one slow subscriber cannot
   take every thread; each body is signed when it is sent, and a delivery whose lease ran
   out before its turn is not sent;
3. record (``record_result``, one short transaction per result): delivered (with the time
   the response arrived), backoff or dead, and release the lease; a result whose lease was
   lost to another worker is dropped.
"""

from __future__ import annotations

import json
import logging
import random
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
from sqlalchemy import CursorResult, RowMapping, or_, select, update

from shared.clock import utc_iso
from shared.crypto import Keyring, canonical_json
from shared.db import Database, new_id
from shared.platform_tables import PlatformTables
from shared.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, TOPIC_HEADER, sign_payload

log = logging.getLogger("agrifin.webhooks")

MAX_ATTEMPTS = 12
BASE_BACKOFF_SECONDS = 10
MAX_BACKOFF_SECONDS = 6 * 3600
DEFAULT_LEASE = timedelta(seconds=90)
"""How long a claimed batch is ours: it outlasts one call's sends (5 rounds x a 10 s client
timeout per subscriber) and is short, so a batch a killed worker held is sent again soon."""
SEND_CONCURRENCY = 8
SENDS_PER_SUBSCRIBER = 2
CLAIM_ROUNDS_PER_LANE = 5
"""A call claims at most this many rounds of ``per_subscriber`` sends for one subscriber, so a
slow one holds few leases (5 rounds x a 10 s client timeout fits well inside the lease)."""
CLAIM_PER_LANE = SENDS_PER_SUBSCRIBER * CLAIM_ROUNDS_PER_LANE
CANDIDATES_PER_BATCH = 4
"""Due rows read per claimed slot, so the per-subscriber cap can pass over one busy subscriber."""


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
        subs = [
            (s["id"], s["owner"], set(json.loads(s["topics"])))
            for s in session.execute(select(sub).where(sub.c.active.is_(True))).mappings()
        ]
        deliveries = [
            {
                "event_id": event["id"],
                "subscription_id": sub_id,
                "state": "pending",
                "attempts": 0,
                "next_attempt_at": now,
            }
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
    return canonical_json(
        {
            "id": event["id"],
            "topic": event["topic"],
            "subject": event["subject"],
            "created_at": utc_iso(event["created_at"]),
            "data": json.loads(event["payload"]),
        }
    ).encode("utf-8")


@dataclass(frozen=True)
class LeasedDelivery:
    """A delivery claimed under a lease, with everything needed to send it (no database needed)."""

    id: int
    subscription_id: str
    url: str
    secret: str
    event_id: str
    topic: str
    body: bytes
    attempts: int
    """Attempts including this one (the claim counts it)."""
    lease_token: str
    leased_until: datetime


@dataclass(frozen=True)
class DeliveryResult:
    """What one send produced."""

    ok: bool
    status_code: int | None
    error: str | None
    finished_at: datetime
    """When the response (or the failure) arrived."""


def _clock(now: datetime | Callable[[], datetime]) -> Callable[[], datetime]:
    if callable(now):
        return now
    return lambda: now


def _lane(url: str) -> str:
    """The subscriber a URL belongs to, for the per-subscriber concurrency cap: its origin."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def claim_due(
    db: Database,
    tables: PlatformTables,
    keyring: Keyring,
    *,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
    batch: int = 100,
    per_lane: int = CLAIM_PER_LANE,
) -> list[LeasedDelivery]:
    """Lease up to ``batch`` due deliveries (at most ``per_lane`` per subscriber) in one short
    transaction and return them ready to send; cancel due ones whose subscription is inactive.

    Due means pending, ``next_attempt_at <= now`` and not leased (or the lease has expired,
    which is how a crashed worker's deliveries come back). The claim counts the attempt, so a
    delivery whose sender keeps dying mid-send still ends up dead after MAX_ATTEMPTS.
    """
    dl, ev, sub = tables.webhook_deliveries, tables.outbox, tables.webhook_subscriptions
    token = new_id()
    until = now + lease
    with db.unit_of_work() as session:
        query = (
            select(
                dl.c.id,
                dl.c.attempts,
                sub.c.id.label("sub_id"),
                sub.c.url,
                sub.c.secret_enc,
                sub.c.active,
                ev.c.id.label("event_id"),
                ev.c.topic,
                ev.c.subject,
                ev.c.payload,
                ev.c.created_at,
            )
            .join(sub, sub.c.id == dl.c.subscription_id)
            .join(ev, ev.c.id == dl.c.event_id)
            .where(
                dl.c.state == "pending",
                dl.c.next_attempt_at <= now,
                or_(dl.c.leased_until.is_(None), dl.c.leased_until <= now),
            )
            .order_by(dl.c.next_attempt_at, dl.c.id)
            .limit(batch * CANDIDATES_PER_BATCH)
        )
        if not db.is_sqlite:
            query = query.with_for_update(of=dl, skip_locked=True)
        rows = session.execute(query).mappings().all()
        cancelled = [row["id"] for row in rows if not row["active"]]
        if cancelled:
            session.execute(
                update(dl)
                .where(dl.c.id.in_(cancelled))
                .values(
                    state="cancelled",
                    last_error="subscription deactivated",
                    lease_token=None,
                    leased_until=None,
                )
            )
        chosen: list[RowMapping] = []
        per_lane_count: dict[str, int] = defaultdict(int)
        for row in rows:
            if not row["active"] or len(chosen) >= batch:
                continue
            lane = _lane(row["url"])
            if per_lane_count[lane] < per_lane:
                per_lane_count[lane] += 1
                chosen.append(row)
        exhausted = [row["id"] for row in chosen if int(row["attempts"]) >= MAX_ATTEMPTS]
        if exhausted:  # its last attempt's sender died before recording it
            session.execute(
                update(dl)
                .where(dl.c.id.in_(exhausted))
                .values(
                    state="dead",
                    lease_token=None,
                    leased_until=None,
                    last_error="lease expired on the last attempt",
                )
            )
        chosen = [row for row in chosen if int(row["attempts"]) < MAX_ATTEMPTS]
        if chosen:
            session.execute(
                update(dl)
                .where(dl.c.id.in_([row["id"] for row in chosen]))
                .values(
                    lease_token=token,
                    leased_until=until,
                    attempts=dl.c.attempts + 1,
                )
            )
        return [
            LeasedDelivery(
                id=int(row["id"]),
                subscription_id=row["sub_id"],
                url=row["url"],
                secret=keyring.decrypt(row["secret_enc"], context=f"webhook:{row['sub_id']}"),
                event_id=row["event_id"],
                topic=row["topic"],
                body=event_body(
                    {
                        "id": row["event_id"],
                        "topic": row["topic"],
                        "subject": row["subject"],
                        "created_at": row["created_at"],
                        "payload": row["payload"],
                    }
                ),
                attempts=int(row["attempts"]) + 1,
                lease_token=token,
                leased_until=until,
            )
            for row in chosen
        ]


def send_delivery(
    client: httpx.Client, delivery: LeasedDelivery, *, now: Callable[[], datetime]
) -> DeliveryResult | None:
    """POST one leased delivery, signed now; None (not sent) when its lease has already run out."""
    sent_at = now()
    if sent_at >= delivery.leased_until:
        return None  # another worker may hold it by now; it is claimable again
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign_payload(delivery.secret, delivery.body, int(sent_at.timestamp())),
        EVENT_ID_HEADER: delivery.event_id,
        TOPIC_HEADER: delivery.topic,
    }
    try:
        response = client.post(delivery.url, content=delivery.body, headers=headers)
    except httpx.HTTPError as exc:
        return DeliveryResult(False, None, f"{type(exc).__name__}: {exc}", now())
    except Exception as exc:  # a bug must not strand the lease: record it and retry later
        log.exception("webhook delivery %s failed unexpectedly", delivery.id)
        return DeliveryResult(False, None, f"{type(exc).__name__}: {exc}", now())
    ok = 200 <= response.status_code < 300
    return DeliveryResult(ok, response.status_code, None if ok else f"HTTP {response.status_code}", now())


def record_result(
    db: Database, tables: PlatformTables, delivery: LeasedDelivery, result: DeliveryResult
) -> bool:
    """Record one send in its own short transaction and release the lease; False when the lease
    was lost (expired and claimed by another worker), in which case nothing is written."""
    dl = tables.webhook_deliveries
    values: dict[str, Any] = {
        "attempts": delivery.attempts,
        "last_status_code": result.status_code,
        "last_error": result.error,
        "lease_token": None,
        "leased_until": None,
    }
    if result.ok:
        values.update(state="delivered", delivered_at=result.finished_at)
    elif delivery.attempts >= MAX_ATTEMPTS:
        values.update(state="dead")
    else:
        values.update(next_attempt_at=result.finished_at + backoff_delay(delivery.attempts))
    with db.unit_of_work() as session:
        done = session.execute(
            update(dl)
            .where(
                dl.c.id == delivery.id,
                dl.c.lease_token == delivery.lease_token,
            )
            .values(**values)
        )
        recorded = cast("CursorResult[Any]", done).rowcount == 1
    if not recorded:
        log.warning("webhook delivery %s: lease lost before its result was recorded", delivery.id)
    return recorded


def deliver_due(
    db: Database,
    tables: PlatformTables,
    keyring: Keyring,
    client: httpx.Client,
    *,
    now: datetime | Callable[[], datetime],
    batch: int = 100,
    lease: timedelta = DEFAULT_LEASE,
    concurrency: int = SEND_CONCURRENCY,
    per_subscriber: int = SENDS_PER_SUBSCRIBER,
) -> int:
    """Lease the due deliveries, send them with no transaction open, record each result;
    return how many succeeded.

    ``now`` is a clock (``ctx.clock.now``) or a fixed time: the claim, each signature and
    each recorded ``delivered_at`` / backoff read it when they happen. Sends run on up to
    ``concurrency`` threads, at most ``per_subscriber`` at a time per subscriber (URL origin).
    ``lease`` must outlast the sends of one call; a lease that runs out before its delivery's
    turn comes skips the send (the delivery is claimable again).
    """
    clock = _clock(now)
    claimed = claim_due(
        db,
        tables,
        keyring,
        now=clock(),
        lease=lease,
        batch=batch,
        per_lane=per_subscriber * CLAIM_ROUNDS_PER_LANE,
    )
    if not claimed:
        return 0
    lanes: dict[str, deque[LeasedDelivery]] = defaultdict(deque)
    for delivery in claimed:
        lanes[_lane(delivery.url)].append(delivery)
    delivered = 0
    with ThreadPoolExecutor(
        max_workers=max(1, min(concurrency, len(claimed))), thread_name_prefix="webhook-send"
    ) as pool:
        running: dict[Future[DeliveryResult | None], tuple[str, LeasedDelivery]] = {}
        in_flight: dict[str, int] = defaultdict(int)

        def fill() -> None:
            # A lane never has more than per_subscriber sends in flight, so threads left over
            # go to other subscribers (only submitted work occupies a thread; none waits).
            for lane, queue in lanes.items():
                while queue and in_flight[lane] < per_subscriber and len(running) < concurrency:
                    delivery = queue.popleft()
                    running[pool.submit(send_delivery, client, delivery, now=clock)] = (lane, delivery)
                    in_flight[lane] += 1

        fill()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                lane, delivery = running.pop(future)
                in_flight[lane] -= 1
                result = future.result()
                if result is not None and record_result(db, tables, delivery, result) and result.ok:
                    delivered += 1
            fill()
    return delivered
