"""Webhook delivery holds no transaction while it sends: deliveries are leased in a short
transaction, sent with none open, and recorded in another; two workers never send the same
delivery, an expired lease is claimed again, and signatures and ``delivered_at`` carry the
times they happened."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from sqlalchemy import select, update

from shared.clock import ManualClock
from shared.platform import ServiceContext
from shared.webhook_delivery import (
    DeliveryResult,
    claim_due,
    deliver_due,
    dispatch_events,
    record_result,
    send_delivery,
)
from shared.webhooks import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    create_subscription,
    emit_event,
    verify_signature_header,
)

HANG_SECONDS = 20.0


class _HangingServer(ThreadingHTTPServer):
    received: threading.Event
    release: threading.Event


class _HangingHandler(BaseHTTPRequestHandler):
    server: _HangingServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.set()
        self.server.release.wait(HANG_SECONDS)  # the test releases it as soon as it is done
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def hanging_subscriber() -> Iterator[_HangingServer]:
    """A local HTTP subscriber that answers a POST only after HANG_SECONDS (or on release)."""
    server = _HangingServer(("127.0.0.1", 0), _HangingHandler)
    server.received, server.release = threading.Event(), threading.Event()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def _subscribe(ctx: ServiceContext, url: str) -> tuple[str, str]:
    with ctx.db.unit_of_work() as session:
        return create_subscription(
            session, ctx.tables, ctx.keyring, url=url, topics=["lot.*"], owner=None, now=ctx.clock.now()
        )


def _emit(ctx: ServiceContext, count: int = 1) -> None:
    with ctx.db.unit_of_work() as session:
        for i in range(count):
            emit_event(
                session,
                ctx.tables,
                topic="lot.released",
                subject=f"escrow:{i}",
                data={"i": i},
                now=ctx.clock.now(),
            )
    assert dispatch_events(ctx.db, ctx.tables, now=ctx.clock.now()) == count


def _deliveries(ctx: ServiceContext) -> list[dict[str, Any]]:
    dl = ctx.tables.webhook_deliveries
    with ctx.db.unit_of_work(read_only=True) as session:
        return [dict(r) for r in session.execute(select(dl).order_by(dl.c.id)).mappings()]


def test_a_hanging_subscriber_does_not_block_writes(make_ctx: Callable[[str], ServiceContext]) -> None:
    ctx = make_ctx("escrow")
    dl = ctx.tables.webhook_deliveries
    with (
        hanging_subscriber() as server,
        httpx.Client(timeout=HANG_SECONDS + 10) as client,
        ThreadPoolExecutor(max_workers=1) as background,
    ):
        _subscribe(ctx, f"http://127.0.0.1:{server.server_port}/hook")
        _emit(ctx)
        (delivery,) = _deliveries(ctx)
        sending = background.submit(deliver_due, ctx.db, ctx.tables, ctx.keyring, client, now=ctx.clock.now)
        assert server.received.wait(10), "the delivery was never sent"

        # An API write (a new subscription) while the subscriber hangs.
        _subscribe(ctx, "http://other.test/hook")
        # A write to the very delivery being sent (row-locked on PostgreSQL if the send held
        # its claim transaction open).
        with ctx.db.unit_of_work() as session:
            session.execute(update(dl).where(dl.c.id == delivery["id"]).values(last_error=dl.c.last_error))
        # Both are done while the send still hangs: neither waited for it.
        assert not sending.done(), "the writes waited for the hanging subscriber"

        server.release.set()
        assert sending.result(timeout=30) == 1
    (after,) = _deliveries(ctx)
    assert (after["state"], after["attempts"], after["lease_token"]) == ("delivered", 1, None)


def _recording_client(
    sent: list[tuple[str, str]],
    lock: threading.Lock,
    before: Callable[[], None] = lambda: None,
) -> httpx.Client:
    def subscriber(request: httpx.Request) -> httpx.Response:
        with lock:
            sent.append((request.headers[EVENT_ID_HEADER], request.url.host))
        before()
        return httpx.Response(200)

    return httpx.Client(transport=httpx.MockTransport(subscriber))


def test_a_second_worker_skips_deliveries_leased_by_the_first(
    make_ctx: Callable[[str], ServiceContext],
) -> None:
    ctx = make_ctx("escrow")
    for host in ("a.test", "b.test", "c.test"):
        _subscribe(ctx, f"http://{host}/hook")
    _emit(ctx, 6)
    sent: list[tuple[str, str]] = []
    lock = threading.Lock()
    first_sending, second_done = threading.Event(), threading.Event()

    def hold() -> None:
        first_sending.set()
        assert second_done.wait(10)

    with (
        _recording_client(sent, lock, hold) as first,
        _recording_client(sent, lock) as second,
        ThreadPoolExecutor(max_workers=1) as background,
    ):
        worker = background.submit(deliver_due, ctx.db, ctx.tables, ctx.keyring, first, now=ctx.clock.now)
        assert first_sending.wait(10)
        try:
            assert deliver_due(ctx.db, ctx.tables, ctx.keyring, second, now=ctx.clock.now) == 0
        finally:
            second_done.set()
        assert worker.result(timeout=30) == 18
    assert len(sent) == 18 and len(set(sent)) == 18
    assert {d["state"] for d in _deliveries(ctx)} == {"delivered"}


def test_racing_workers_send_each_delivery_once(make_ctx: Callable[[str], ServiceContext]) -> None:
    ctx = make_ctx("escrow")
    for host in ("a.test", "b.test", "c.test"):
        _subscribe(ctx, f"http://{host}/hook")
    _emit(ctx, 8)
    sent: list[tuple[str, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(2)

    def work() -> int:
        total = 0
        with _recording_client(sent, lock, lambda: time.sleep(0.005)) as client:
            start.wait(10)
            while (
                done := deliver_due(ctx.db, ctx.tables, ctx.keyring, client, now=ctx.clock.now, batch=4)
            ) > 0:
                total += done
        return total

    with ThreadPoolExecutor(max_workers=2) as pool:
        totals = [f.result(timeout=60) for f in [pool.submit(work), pool.submit(work)]]
    duplicates = [k for k, n in Counter(sent).items() if n > 1]
    assert duplicates == []
    assert sum(totals) == len(sent) == 24
    assert {d["state"] for d in _deliveries(ctx)} == {"delivered"}


def test_an_expired_lease_is_claimed_again(make_ctx: Callable[[str], ServiceContext]) -> None:
    ctx = make_ctx("escrow")
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    _subscribe(ctx, "http://hook.test/in")
    _emit(ctx)
    (crashed,) = claim_due(
        ctx.db, ctx.tables, ctx.keyring, now=clock.now(), lease=timedelta(seconds=60)
    )  # ... and the worker dies
    sent: list[tuple[str, str]] = []
    with _recording_client(sent, threading.Lock()) as client:
        assert deliver_due(ctx.db, ctx.tables, ctx.keyring, client, now=clock.now) == 0
        assert sent == []  # still leased
        clock.advance(timedelta(seconds=61))
        assert send_delivery(client, crashed, now=clock.now) is None  # its holder may not send now
        assert deliver_due(ctx.db, ctx.tables, ctx.keyring, client, now=clock.now) == 1
    assert len(sent) == 1
    # The dead worker's late result does not overwrite the one recorded by its successor.
    late = DeliveryResult(ok=False, status_code=500, error="HTTP 500", finished_at=clock.now())
    assert not record_result(ctx.db, ctx.tables, crashed, late)
    (row,) = _deliveries(ctx)
    assert (row["state"], row["attempts"], row["last_status_code"]) == ("delivered", 2, 200)
    assert (row["lease_token"], row["leased_until"]) == (None, None)


def test_a_deactivated_subscription_is_not_sent(make_ctx: Callable[[str], ServiceContext]) -> None:
    ctx = make_ctx("escrow")
    sub = ctx.tables.webhook_subscriptions
    _subscribe(ctx, "http://kept.test/in")
    dropped, _ = _subscribe(ctx, "http://dropped.test/in")
    _emit(ctx)
    with ctx.db.unit_of_work() as session:
        session.execute(update(sub).where(sub.c.id == dropped).values(active=False))
    sent: list[tuple[str, str]] = []
    with _recording_client(sent, threading.Lock()) as client:
        assert deliver_due(ctx.db, ctx.tables, ctx.keyring, client, now=ctx.clock.now) == 1
        assert deliver_due(ctx.db, ctx.tables, ctx.keyring, client, now=ctx.clock.now) == 0
    assert [host for _, host in sent] == ["kept.test"]
    states = {d["subscription_id"]: (d["state"], d["attempts"]) for d in _deliveries(ctx)}
    assert states[dropped] == ("cancelled", 0)


def test_signatures_carry_the_send_time_and_delivered_at_the_response_time(
    make_ctx: Callable[[str], ServiceContext],
) -> None:
    ctx = make_ctx("escrow")
    clock = ctx.clock
    assert isinstance(clock, ManualClock)
    _, secret = _subscribe(ctx, "http://hook.test/in")
    _emit(ctx, 2)
    claimed_at = clock.now()
    received: list[tuple[str, int, bytes, str]] = []

    def slow_subscriber(request: httpx.Request) -> httpx.Response:
        header = request.headers[SIGNATURE_HEADER]
        timestamp = verify_signature_header(secret, request.content, header, now=clock.now())
        received.append((request.headers[EVENT_ID_HEADER], timestamp, request.content, header))
        clock.advance(timedelta(seconds=5))  # the subscriber takes 5 s to answer
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(slow_subscriber)) as client:
        assert (
            deliver_due(ctx.db, ctx.tables, ctx.keyring, client, now=clock.now, per_subscriber=1) == 2
        )  # one at a time: the second is sent 5 s later
    assert [t for _, t, _, _ in received] == [
        int(claimed_at.timestamp()),
        int((claimed_at + timedelta(seconds=5)).timestamp()),
    ]
    delivered_at = {d["event_id"]: d["delivered_at"] for d in _deliveries(ctx)}
    for (event_id, _, _, _), seconds in zip(received, (5, 10), strict=True):
        got = delivered_at[event_id]
        assert got.replace(tzinfo=None) == (claimed_at + timedelta(seconds=seconds)).replace(tzinfo=None)


def test_a_slow_subscriber_does_not_hold_the_pool(make_ctx: Callable[[str], ServiceContext]) -> None:
    """With one subscriber hanging, the others' deliveries all go out before it answers."""
    ctx = make_ctx("escrow")
    fast_sent: list[str] = []
    slow_answered: list[str] = []
    slow_answers_when_fast_done: list[int] = []
    lock = threading.Lock()
    with hanging_subscriber() as server, httpx.Client(timeout=HANG_SECONDS + 10) as slow_client:
        _subscribe(ctx, f"http://127.0.0.1:{server.server_port}/hook")
        _subscribe(ctx, "http://fast.test/hook")
        _emit(ctx, 10)

        def route(request: httpx.Request) -> httpx.Response:
            if request.url.host == "fast.test":
                with lock:
                    fast_sent.append(request.headers[EVENT_ID_HEADER])
                    if len(fast_sent) == 10:
                        slow_answers_when_fast_done.append(len(slow_answered))
                        server.release.set()
                return httpx.Response(200)
            answer = slow_client.post(
                str(request.url), content=request.content, headers=dict(request.headers)
            )
            with lock:
                slow_answered.append(request.headers[EVENT_ID_HEADER])
            return httpx.Response(answer.status_code)

        with httpx.Client(transport=httpx.MockTransport(route)) as client:
            assert (
                deliver_due(ctx.db, ctx.tables, ctx.keyring, client, now=ctx.clock.now, concurrency=3) == 20
            )
    assert len(fast_sent) == len(slow_answered) == 10
    assert slow_answers_when_fast_done == [0]  # the fast ones did not wait for the slow one
