"""The write gate is held only for a request's database write (shared.api, shared.db).

A request is authenticated, parsed and validated before it takes the gate (or SQLite's write
lock), so a 401 or a 422 never waits behind a long write; loans' submit calls scoring with no
write transaction open, so a slow scoring service delays no other loans write. These are
regression tests of lock holding: the long write lasts seconds, the assertion is < 1 s.
"""

from __future__ import annotations

import threading
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

HOLD_S = 30.0
"""The longest a held writer or a held scoring call waits for the test to let it go."""


@contextmanager
def long_write(ctx: ServiceContext) -> Iterator[threading.Thread]:
    """Another writer of the same process, holding the gate (SQLite) and an open write
    transaction until the block ends (or ``HOLD_S`` passes). The block gets the writer's
    thread: alive means it still holds them, so whatever answered meanwhile did not wait."""
    started, release = threading.Event(), threading.Event()

    def write() -> None:
        gate = ctx.db.write_gate
        if gate is not None:
            gate.acquire()
        try:
            with ctx.db.unit_of_work() as session:
                t = ctx.tables.api_keys
                session.execute(select(t.c.id).with_for_update()).all()  # BEGIN IMMEDIATE on SQLite
                started.set()
                release.wait(HOLD_S)
        finally:
            if gate is not None:
                gate.release()

    thread = threading.Thread(target=write)
    thread.start()
    assert started.wait(30)
    try:
        yield thread
    finally:
        release.set()
        thread.join()


def test_a_bad_key_and_a_bad_body_do_not_wait_behind_a_long_write(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> None:
    ctx = make_ctx("loans")
    client = client_for(loans_app(cast(LoansContext, ctx), scoring_client=FakeScoring().client()))
    officer = issue_key(ctx, Role.LOAN_OFFICER)
    json_headers = {"Content-Type": "application/json"}
    with long_write(ctx) as writer:
        bad_key = client.post("/v1/borrowers", json=BorrowerPayloadFactory(), headers=auth("agf_not_a_key"))
        bad_body = client.post("/v1/borrowers", content=b'{"type": 7}', headers=auth(officer, **json_headers))
        assert writer.is_alive(), "the 401 and the 422 waited until the other write ended"
    assert bad_key.status_code == 401, bad_key.text
    assert bad_body.status_code == 422, bad_body.text


def test_a_valid_write_still_waits_for_the_gate(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient], backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("the write gate exists on SQLite only")
    ctx = make_ctx("loans")
    client = client_for(loans_app(cast(LoansContext, ctx), scoring_client=FakeScoring().client()))
    officer = issue_key(ctx, Role.LOAN_OFFICER)
    answers: list[Any] = []
    with long_write(ctx):
        writing = threading.Thread(
            target=lambda: answers.append(
                client.post("/v1/borrowers", json=BorrowerPayloadFactory(), headers=auth(officer))
            )
        )
        writing.start()
        writing.join(0.5)
        assert writing.is_alive() and not answers, "the write did not queue behind the other writer"
    writing.join(30)
    assert answers and answers[0].status_code == 201, answers


class SlowScoring(FakeScoring):
    """A scoring service that answers once the test lets it (or after ``HOLD_S``)."""

    def __init__(self) -> None:
        super().__init__()
        self.entered, self.release = threading.Event(), threading.Event()

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.entered.set()
        self.release.wait(HOLD_S)
        return super().handler(request)

    def client(self) -> ScoringClient:
        http = httpx.Client(base_url="http://scoring.test", transport=httpx.MockTransport(self.handler))
        return ScoringClient(http, api_key="svc-key", attempts=1, max_backoff=0.01)


def test_a_slow_scoring_call_delays_no_other_loans_write(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> None:
    ctx = make_ctx("loans")
    scoring = SlowScoring()
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
    try:
        assert scoring.entered.wait(30)
        other = client.post("/v1/borrowers", json=BorrowerPayloadFactory(), headers=auth(officer))
        assert thread.is_alive(), "the borrower write waited until the scoring call ended"
    finally:
        scoring.release.set()
    thread.join()
    assert other.status_code == 201, other.text
    assert submitted["response"].status_code == 201, submitted["response"].text
    assert submitted["response"].json()["status"] == "scored"
