"""Scoring subscribes itself to loans' ``loan.outcome`` through loans' API (never loans' tables).

The scoring side (``services.scoring.service.loans_subscription``) talks to a real loans app
over HTTP (an in-process TestClient, reached through the client scoring builds from its
settings), with its own credential (``service:scoring``); scoring's inbound route then
verifies loans' deliveries with the secret that subscription stored.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.loans.app import create_app as create_loans_app
from services.loans.settings import LoansContext
from services.scoring.app import create_app as create_scoring_app
from services.scoring.jobs import loans_subscription_job
from services.scoring.service.loans_subscription import (
    TOPICS,
    build_loans_client,
    ensure_loans_subscription,
)
from services.scoring.settings import LOANS_SECRET_FILE, ScoringContext, ScoringSettings
from shared.auth import Role
from shared.clients.loans import LoansClient
from shared.http_client import ServiceUnreachable, UpstreamProblem
from shared.platform import ServiceContext
from shared.settings import DEV_KEYS_FILE
from shared.webhooks import SIGNATURE_HEADER, sign_payload
from tests.support import assert_problem, free_port, issue_key

PUBLIC_URL = "http://scoring.test"


@dataclass
class Sides:
    loans_ctx: ServiceContext
    loans: LoansClient
    transport: httpx.MockTransport
    scoring_ctx: ScoringContext
    settings: ScoringSettings


def _forward_to(client: TestClient) -> httpx.MockTransport:
    def forward(request: httpx.Request) -> httpx.Response:
        answer = client.request(
            request.method,
            request.url.raw_path.decode("ascii"),
            content=request.content,
            headers={k: v for k, v in request.headers.items() if k != "host"},
        )
        return httpx.Response(answer.status_code, content=answer.content, headers=answer.headers)

    return httpx.MockTransport(forward)


@pytest.fixture
def sides(make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]) -> Sides:
    loans_ctx = make_ctx("loans")
    scoring_ctx = cast(ScoringContext, make_ctx("scoring"))
    key = issue_key(loans_ctx, Role.SERVICE, owner="scoring")  # scoring's own credential
    # As `agrifin bootstrap` leaves it: scoring finds its credential in dev-keys.json.
    (scoring_ctx.settings.var_dir / DEV_KEYS_FILE).write_text(json.dumps({"service:scoring": key}))
    settings = scoring_ctx.settings.model_copy(update={"public_url": PUBLIC_URL})
    scoring_ctx.settings = settings
    transport = _forward_to(client_for(create_loans_app(cast(LoansContext, loans_ctx))))
    return Sides(
        loans_ctx, build_loans_client(settings, transport=transport), transport, scoring_ctx, settings
    )


def _active(loans_ctx: ServiceContext) -> list[dict[str, object]]:
    t = loans_ctx.tables.webhook_subscriptions
    with loans_ctx.db.unit_of_work(read_only=True) as session:
        return [dict(r) for r in session.execute(select(t).where(t.c.active.is_(True))).mappings()]


def test_scoring_subscribes_once_with_its_own_credential_and_keeps_the_secret_private(sides: Sides) -> None:
    settings = sides.settings
    assert settings.resolved_loans_api_key is not None  # service:scoring from dev-keys.json
    assert settings.inbound_loans_url == f"{PUBLIC_URL}/v1/inbound/loans"
    assert settings.resolved_loans_webhook_secret is None

    first = ensure_loans_subscription(settings, sides.loans)
    assert first.status == "subscribed"
    (sub,) = _active(sides.loans_ctx)
    assert sub["id"] == first.subscription_id and sub["url"] == settings.inbound_loans_url
    assert sub["topics"] == '["loan.outcome"]' and TOPICS == ["loan.outcome"]
    assert sub["owner"] is None
    secret_file = settings.var_dir / LOANS_SECRET_FILE
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    stored_id, secret = settings.loans_subscription_file.read()
    assert stored_id == first.subscription_id and secret == settings.resolved_loans_webhook_secret
    assert secret is not None and secret.startswith("whsec_")

    again = ensure_loans_subscription(settings, sides.loans)
    assert (again.status, again.subscription_id) == ("present", first.subscription_id)
    assert len(_active(sides.loans_ctx)) == 1


def test_a_lost_secret_replaces_the_subscription(sides: Sides) -> None:
    first = ensure_loans_subscription(sides.settings, sides.loans)
    (sides.settings.var_dir / LOANS_SECRET_FILE).unlink()
    assert sides.settings.resolved_loans_webhook_secret is None

    second = ensure_loans_subscription(sides.settings, sides.loans)
    assert second.status == "subscribed" and second.subscription_id != first.subscription_id
    assert [s["id"] for s in _active(sides.loans_ctx)] == [second.subscription_id]
    assert sides.settings.loans_subscription_file.read()[0] == second.subscription_id


def test_a_subscription_scoring_did_not_record_is_deactivated(sides: Sides) -> None:
    """An answer lost after loans subscribed: scoring never saw that secret, so it starts over."""
    url = sides.settings.inbound_loans_url
    orphan = sides.loans.subscribe(url=url, topics=TOPICS, idempotency_key="lost-answer")

    outcome = ensure_loans_subscription(sides.settings, sides.loans)
    assert outcome.status == "subscribed" and outcome.subscription_id != orphan.id
    assert [s["id"] for s in _active(sides.loans_ctx)] == [outcome.subscription_id]


def test_an_operator_configured_secret_means_scoring_leaves_loans_alone(sides: Sides) -> None:
    settings = sides.settings.model_copy(update={"loans_webhook_secret": "whsec_from_the_operator"})
    assert ensure_loans_subscription(settings, sides.loans).status == "configured"
    assert _active(sides.loans_ctx) == []
    assert settings.resolved_loans_webhook_secret == "whsec_from_the_operator"
    assert not (settings.var_dir / LOANS_SECRET_FILE).exists()


def test_loans_down_is_reported_and_changes_nothing(sides: Sides) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    loans = build_loans_client(sides.settings, transport=httpx.MockTransport(refuse))
    with pytest.raises(ServiceUnreachable):
        ensure_loans_subscription(sides.settings, loans)
    assert not (sides.settings.var_dir / LOANS_SECRET_FILE).exists()


def test_the_worker_job_waits_for_loans_and_changes_nothing_meanwhile(sides: Sides) -> None:
    """``scoring.loans.subscribe`` against a loans nobody serves: nothing raised, nothing written."""
    unserved = f"http://127.0.0.1:{free_port()}"
    sides.scoring_ctx.settings = sides.settings.model_copy(update={"loans_url": unserved})
    job = loans_subscription_job(sides.scoring_ctx)
    assert job() is None and job() is None
    assert not (sides.settings.var_dir / LOANS_SECRET_FILE).exists()


def test_a_key_loans_does_not_admit_is_refused_and_nothing_is_stored(sides: Sides) -> None:
    """Another service's credential may not subscribe to loans' outcomes (403), so nothing is kept."""
    escrow_key = issue_key(sides.loans_ctx, Role.SERVICE, owner="escrow")
    settings = sides.settings.model_copy(update={"loans_api_key": escrow_key})
    loans = build_loans_client(settings, transport=sides.transport)
    with pytest.raises(UpstreamProblem) as refused:
        ensure_loans_subscription(settings, loans)
    assert refused.value.status == 403
    assert _active(sides.loans_ctx) == [] and settings.loans_subscription_file.read() == (None, None)


def test_scoring_verifies_loans_deliveries_with_the_stored_secret(
    sides: Sides, client_for: Callable[..., TestClient]
) -> None:
    scoring = client_for(create_scoring_app(sides.scoring_ctx))
    now = int(sides.scoring_ctx.clock.now().timestamp())
    body = json.dumps({"id": "ev-1", "topic": "loan.disbursed", "data": {}}).encode()

    def deliver(secret: str) -> httpx.Response:
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign_payload(secret, body, now)}
        return scoring.post("/v1/inbound/loans", content=body, headers=headers)

    assert_problem(deliver("whsec_anything"), 503)  # not subscribed yet: nothing to verify with
    ensure_loans_subscription(sides.settings, sides.loans)
    _, secret = sides.settings.loans_subscription_file.read()
    assert secret is not None
    accepted = deliver(secret)
    assert accepted.status_code == 200 and accepted.json()["result"] == "ignored", accepted.text
    assert_problem(deliver("whsec_not_the_one_loans_holds"), 401)
