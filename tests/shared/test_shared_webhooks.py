"""Signed webhooks: the outbox is delivered with a verifiable signature, retried with backoff,
and a receiver rejects bad, stale and replayed deliveries."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from shared.clock import ManualClock
from shared.platform import ServiceContext
from shared.webhook_delivery import (
    deliver_due,
    dispatch_events,
)
from shared.webhooks import (
    SIGNATURE_HEADER,
    WebhookSignatureError,
    create_subscription,
    emit_event,
    record_inbox,
    sign_payload,
    verify_signature_header,
)
from shared.worker import platform_jobs

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SECRET = "whsec_test"
BODY = b'{"id":"e1","topic":"lot.released"}'


def test_a_valid_signature_verifies() -> None:
    header = sign_payload(SECRET, BODY, int(NOW.timestamp()))
    assert verify_signature_header(SECRET, BODY, header, now=NOW) == int(NOW.timestamp())


@pytest.mark.parametrize(
    "header",
    [None, "garbage", "t=abc,v1=00", f"t={int(NOW.timestamp())},v1={'0' * 64}"],
)
def test_bad_signatures_are_rejected(header: str | None) -> None:
    with pytest.raises(WebhookSignatureError):
        verify_signature_header(SECRET, BODY, header, now=NOW)


def test_a_changed_body_or_wrong_secret_is_rejected() -> None:
    header = sign_payload(SECRET, BODY, int(NOW.timestamp()))
    with pytest.raises(WebhookSignatureError):
        verify_signature_header(SECRET, BODY + b" ", header, now=NOW)
    with pytest.raises(WebhookSignatureError):
        verify_signature_header("whsec_other", BODY, header, now=NOW)


def test_a_stale_signature_is_rejected() -> None:
    header = sign_payload(SECRET, BODY, int((NOW - timedelta(seconds=301)).timestamp()))
    with pytest.raises(WebhookSignatureError, match="tolerance"):
        verify_signature_header(SECRET, BODY, header, now=NOW)
    fresh = sign_payload(SECRET, BODY, int((NOW - timedelta(seconds=299)).timestamp()))
    verify_signature_header(SECRET, BODY, fresh, now=NOW)


def test_a_replayed_event_is_recognised(make_ctx: Callable[[str], ServiceContext]) -> None:
    ctx = make_ctx("loans")
    with ctx.db.unit_of_work() as session:
        assert record_inbox(session, ctx.tables, event_id="e1", source="escrow", topic="t", now=NOW)
        assert not record_inbox(session, ctx.tables, event_id="e1", source="escrow", topic="t", now=NOW)
        assert record_inbox(session, ctx.tables, event_id="e2", source="escrow", topic="t", now=NOW)


def test_outbox_delivery_signs_retries_and_logs(make_ctx: Callable[[str], ServiceContext]) -> None:
    ctx = make_ctx("escrow")
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    received: list[httpx.Request] = []
    answers = iter([503, 200])

    def subscriber(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(next(answers))

    client = httpx.Client(transport=httpx.MockTransport(subscriber))
    with ctx.db.unit_of_work() as session:
        _, secret = create_subscription(
            session,
            ctx.tables,
            ctx.keyring,
            url="http://hook.test/in",
            topics=["lot.*"],
            owner=None,
            now=clock.now(),
        )
        create_subscription(
            session,
            ctx.tables,
            ctx.keyring,
            url="http://other.test/in",
            topics=["escrow.created"],
            owner=None,
            now=clock.now(),
        )
        emit_event(
            session,
            ctx.tables,
            topic="lot.released",
            subject="escrow:1",
            data={"amount_minor": 5000},
            now=clock.now(),
        )

    assert dispatch_events(ctx.db, ctx.tables, now=clock.now()) == 1
    assert deliver_due(ctx.db, ctx.tables, ctx.keyring, client, now=clock.now()) == 0  # 503
    assert deliver_due(ctx.db, ctx.tables, ctx.keyring, client, now=clock.now()) == 0  # backing off
    clock.advance(timedelta(seconds=11))
    assert deliver_due(ctx.db, ctx.tables, ctx.keyring, client, now=clock.now()) == 1

    assert len(received) == 2  # only the lot.* subscriber, twice
    last = received[-1]
    verify_signature_header(secret, last.content, last.headers[SIGNATURE_HEADER], now=clock.now())
    body = json.loads(last.content)
    assert body["topic"] == "lot.released" and body["data"] == {"amount_minor": 5000}
    with ctx.db.unit_of_work(read_only=True) as session:
        log = session.execute(select(ctx.tables.webhook_deliveries)).mappings().one()
    assert (log["state"], log["attempts"], log["last_status_code"]) == ("delivered", 2, 200)
    assert log["delivered_at"].replace(tzinfo=None) == clock.now().replace(tzinfo=None)
    assert (log["lease_token"], log["leased_until"]) == (None, None)  # the lease is released


def test_the_worker_job_delivers_on_the_service_clock(make_ctx: Callable[[str], ServiceContext]) -> None:
    ctx = make_ctx("loans")
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    sent_at: list[datetime] = []

    def subscriber(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock.now())
        clock.advance(timedelta(seconds=3))  # the answer takes 3 s
        return httpx.Response(204)

    with ctx.db.unit_of_work() as session:
        create_subscription(
            session,
            ctx.tables,
            ctx.keyring,
            url="http://hook.test/in",
            topics=["*"],
            owner=None,
            now=clock.now(),
        )
        emit_event(session, ctx.tables, topic="loan.disbursed", subject="loan:1", data={}, now=clock.now())
    with httpx.Client(transport=httpx.MockTransport(subscriber)) as client:
        jobs = {name: job for name, _, job in platform_jobs(ctx, client)}
        assert jobs["loans.outbox.dispatch"]() == 1
        assert jobs["loans.webhooks.deliver"]() == 1
        assert jobs["loans.webhooks.deliver"]() == 0
    with ctx.db.unit_of_work(read_only=True) as session:
        log = session.execute(select(ctx.tables.webhook_deliveries)).mappings().one()
    assert log["state"] == "delivered"
    answered_at = sent_at[0] + timedelta(seconds=3)
    assert log["delivered_at"].replace(tzinfo=None) == answered_at.replace(tzinfo=None)
