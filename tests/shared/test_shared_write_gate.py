"""The write gate is held only for a request's database write (shared.api, shared.db).

A request is authenticated, parsed and validated before it takes the gate (or SQLite's write
lock), so a 401 or a 422 never waits behind a long write; loans' submit calls scoring with no
write transaction open, so a slow scoring service delays no other loans write. These are
regression tests of lock holding: the long write lasts seconds, the assertion is < 1 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.loans.app import create_app as loans_app
from services.loans.service.scoring import ScoringClient
from services.loans.settings import LoansContext
from shared.auth import Role
from shared.platform import ServiceContext
from tests.factories.loans import ApplicationPayloadFactory, BorrowerPayloadFactory, ProductPayloadFactory
from tests.loans.kit import FakeScoring
from tests.support import auth, issue_key

HOLD_S = 3.0


@contextmanager
def long_write(ctx: ServiceContext, seconds: float = HOLD_S) -> Iterator[None]:
    """Another writer of the same process: the gate (SQLite) and an open write transaction."""
    started = threading.Event()

    def write() -> None:
        gate = ctx.db.write_gate
        if gate is not None:
            gate.acquire()
        try:
            with ctx.db.unit_of_work() as session:
                t = ctx.tables.api_keys
                session.execute(select(t.c.id).with_for_update()).all()  # BEGIN IMMEDIATE on SQLite
                started.set()
                time.sleep(seconds)
        finally:
            if gate is not None:
                gate.release()

    thread = threading.Thread(target=write)
    thread.start()
    assert started.wait(5)
    try:
        yield
    finally:
        thread.join()


def _timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    began = time.perf_counter()
    response = call()
    return response, time.perf_counter() - began


def test_a_bad_key_and_a_bad_body_do_not_wait_behind_a_long_write(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> None:
    ctx = make_ctx("loans")
    client = client_for(loans_app(cast(LoansContext, ctx), scoring_client=FakeScoring().client()))
    officer = issue_key(ctx, Role.LOAN_OFFICER)
    json_headers = {"Content-Type": "application/json"}
    with long_write(ctx):
        bad_key, bad_key_s = _timed(
            lambda: client.post("/v1/borrowers", json=BorrowerPayloadFactory(), headers=auth("agf_not_a_key"))
        )
        bad_body, bad_body_s = _timed(
            lambda: client.post(
                "/v1/borrowers", content=b'{"type": 7}', headers=auth(officer, **json_headers)
            )
        )
    assert bad_key.status_code == 401, bad_key.text
    assert bad_body.status_code == 422, bad_body.text
    assert bad_key_s < 1.0, f"401 waited {bad_key_s:.2f}s behind the write"
    assert bad_body_s < 1.0, f"422 waited {bad_body_s:.2f}s behind the write"


def test_a_valid_write_still_waits_for_the_gate(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient], backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("the write gate exists on SQLite only")
    ctx = make_ctx("loans")
    client = client_for(loans_app(cast(LoansContext, ctx), scoring_client=FakeScoring().client()))
    officer = issue_key(ctx, Role.LOAN_OFFICER)
    with long_write(ctx, seconds=1.5):
        created, took = _timed(
            lambda: client.post("/v1/borrowers", json=BorrowerPayloadFactory(), headers=auth(officer))
        )
    assert created.status_code == 201, created.text
    assert took > 0.5, "the write did not queue behind the other writer"


class SlowScoring(FakeScoring):
    """A scoring service that answers after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.entered = threading.Event()

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.entered.set()
        time.sleep(self.delay)
        return super().handler(request)

    def client(self) -> ScoringClient:
        http = httpx.Client(base_url="http://scoring.test", transport=httpx.MockTransport(self.handler))
        return ScoringClient(http, api_key="svc-key", attempts=1, max_backoff=0.01)


def test_a_slow_scoring_call_delays_no_other_loans_write(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> None:
    ctx = make_ctx("loans")
    scoring = SlowScoring(delay=HOLD_S)
    client = client_for(loans_app(cast(LoansContext, ctx), scoring_client=scoring.client()))
    officer, manager = issue_key(ctx, Role.LOAN_OFFICER), issue_key(ctx, Role.CREDIT_MANAGER)
    product = client.post("/v1/products", json=ProductPayloadFactory(), headers=auth(manager)).json()
    borrower = client.post("/v1/borrowers", json=BorrowerPayloadFactory(), headers=auth(officer)).json()
    submitted: dict[str, Any] = {}

    def submit() -> None:
        body = ApplicationPayloadFactory(product_id=product["id"], borrower_id=borrower["id"])
        submitted["response"] = client.post("/v1/applications", json=body, headers=auth(officer))

    thread = threading.Thread(target=submit)
    thread.start()
    assert scoring.entered.wait(5)
    other, took = _timed(
        lambda: client.post("/v1/borrowers", json=BorrowerPayloadFactory(), headers=auth(officer))
    )
    thread.join()
    assert other.status_code == 201, other.text
    assert took < 1.0, f"a borrower write waited {took:.2f}s behind a scoring call"
    assert submitted["response"].status_code == 201, submitted["response"].text
    assert submitted["response"].json()["status"] == "scored"
