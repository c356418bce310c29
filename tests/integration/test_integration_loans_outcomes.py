"""Loan outcomes reach scoring, across two services.

Loans asks the real scoring service (in process, over its HTTP API) for the score that decides
a loan. Scoring subscribes itself, with its own credential (``service:scoring``), to loans'
``loan.outcome`` through loans' API (what the worker's ``scoring.loans.subscribe`` does) and
verifies deliveries with the secret it stored. The loan goes 30 days past due at close of
business and is then repaid in full. The worker delivers both outcomes as signed webhooks to scoring's
``POST /v1/inbound/loans``, which stores them against the score; a redelivery is applied once,
and a forged one is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.loans.app import create_app as create_loans_app
from services.loans.settings import LoansContext
from services.scoring import bootstrap as scoring_bootstrap
from services.scoring.app import create_app as create_scoring_app
from services.scoring.models import Outcome
from services.scoring.service.loans_subscription import build_loans_client, ensure_loans_subscription
from services.scoring.settings import ScoringSettings
from shared.auth import Role
from shared.clients.scoring import ScoringClient
from shared.clock import ManualClock
from shared.platform import ServiceContext
from shared.webhook_delivery import deliver_due, dispatch_events, event_body
from shared.webhooks import SIGNATURE_HEADER, sign_payload
from tests.loans.kit import LoansApi
from tests.support import auth, issue_key

SCORING_URL = "http://scoring.test/v1/inbound/loans"


@dataclass
class World:
    loans: LoansApi
    loans_ctx: LoansContext
    scoring_ctx: ServiceContext
    scoring_client: TestClient
    features: dict[str, Any]


def _forward_to(client: TestClient) -> Callable[[httpx.Request], httpx.Response]:
    def forward(request: httpx.Request) -> httpx.Response:
        answer = client.request(
            request.method,
            request.url.raw_path.decode("ascii"),
            content=request.content,
            headers={k: v for k, v in request.headers.items() if k != "host"},
        )
        return httpx.Response(answer.status_code, content=answer.content, headers=answer.headers)

    return forward


@pytest.fixture
def world(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> Iterator[World]:
    scoring_ctx = make_ctx("scoring")
    scoring_ctx.settings = scoring_ctx.settings.model_copy(update={"bootstrap_rows": 3_000})
    scoring_bootstrap.bootstrap(scoring_ctx)
    scoring_client = client_for(create_scoring_app(scoring_ctx))
    example = scoring_client.get(
        "/v1/segments/farmer", headers=auth(issue_key(scoring_ctx, Role.LOAN_OFFICER))
    )
    assert example.status_code == 200, example.text
    http = httpx.Client(
        base_url="http://scoring.test", transport=httpx.MockTransport(_forward_to(scoring_client))
    )
    scoring = ScoringClient(http, api_key=issue_key(scoring_ctx, Role.SERVICE, "loans"), attempts=1)
    loans_ctx = cast(LoansContext, make_ctx("loans"))
    client = client_for(create_loans_app(loans_ctx, scoring_client=scoring), raise_server_exceptions=True)
    keys = {
        name: issue_key(loans_ctx, role, owner)
        for name, role, owner in (
            ("officer", Role.LOAN_OFFICER, None),
            ("manager", Role.CREDIT_MANAGER, None),
            ("admin", Role.ADMIN, None),
            ("auditor", Role.AUDITOR, None),
            ("scoring", Role.SERVICE, "scoring"),
        )
    }
    with http:
        yield World(
            LoansApi(client, keys), loans_ctx, scoring_ctx, scoring_client, dict(example.json()["example"])
        )


def stored_outcomes(ctx: ServiceContext, loan_id: str) -> list[tuple[str, str, str, str]]:
    with ctx.db.unit_of_work(read_only=True) as session:
        rows = session.execute(
            select(Outcome.score_id, Outcome.outcome, Outcome.occurred_on, Outcome.disbursed_on)
            .where(Outcome.loan_id == loan_id)
            .order_by(Outcome.occurred_on)
        ).all()
    return [(s, o, occurred.isoformat(), disbursed.isoformat()) for s, o, occurred, disbursed in rows]


def test_outcomes_are_delivered_signed_and_recorded_by_scoring_exactly_once(
    world: World, clock: ManualClock
) -> None:
    loans, loans_ctx, scoring_ctx = world.loans, world.loans_ctx, world.scoring_ctx
    # Scoring subscribes itself to loans' outcomes with its own credential; its stored secret
    # verifies them (no secret configured by an operator).
    assert isinstance(scoring_ctx.settings, ScoringSettings)
    settings = scoring_ctx.settings.model_copy(
        update={"public_url": "http://scoring.test", "loans_api_key": loans.keys["scoring"]}
    )
    scoring_ctx.settings = settings
    assert settings.inbound_loans_url == SCORING_URL and settings.loans_webhook_secret is None
    to_loans = build_loans_client(settings, transport=httpx.MockTransport(_forward_to(loans.client)))
    assert ensure_loans_subscription(settings, to_loans).status == "subscribed"
    sub_id, secret = settings.loans_subscription_file.read()
    assert secret is not None and settings.resolved_loans_webhook_secret == secret
    (sub,) = loans.get("/v1/webhooks", as_="scoring")
    assert (sub["id"], sub["url"], sub["topics"]) == (sub_id, SCORING_URL, ["loan.outcome"])

    loans.set_date("2025-01-01")
    product = loans.product()
    loan = loans.active_loan(
        product["id"],
        disburse_on="2025-01-01",
        principal_minor=300_000,
        annual_interest_rate="12",
        number_of_repayments=3,
        features=world.features,
    )
    score_id = loans.get(f"/v1/applications/{loan['application_id']}")["score"]["id"]
    loans.set_date("2025-03-03")
    loans.cob()  # the first installment (due Feb 1) is 30 days late
    owed = loans.loan(loan["id"])["outstanding"]["total_minor"]
    loans.repay(loan["id"], owed, "2025-03-03", "harvest")
    assert loans.loan(loan["id"])["status"] == "closed"

    network = httpx.Client(transport=httpx.MockTransport(_forward_to(world.scoring_client)))
    assert dispatch_events(loans_ctx.db, loans_ctx.tables, now=clock.now()) >= 2
    assert deliver_due(loans_ctx.db, loans_ctx.tables, loans_ctx.keyring, network, now=clock.now()) == 2
    expected = [
        (score_id, "dpd30", "2025-03-03", "2025-01-01"),
        (score_id, "repaid", "2025-03-03", "2025-01-01"),
    ]
    assert sorted(stored_outcomes(scoring_ctx, loan["id"])) == sorted(expected)
    deliveries = loans_ctx.tables.webhook_deliveries
    with loans_ctx.db.unit_of_work(read_only=True) as session:
        pending = session.execute(select(deliveries.c.delivered_at)).scalars().all()
    assert len(pending) == 2 and all(at is not None for at in pending)
    assert deliver_due(loans_ctx.db, loans_ctx.tables, loans_ctx.keyring, network, now=clock.now()) == 0

    # At-least-once: the same event delivered again is a duplicate and stores nothing.
    outbox = loans_ctx.tables.outbox
    with loans_ctx.db.unit_of_work(read_only=True) as session:
        event = session.execute(select(outbox).where(outbox.c.topic == "loan.outcome")).mappings().first()
    assert event is not None
    body = event_body(dict(event))
    assert json.loads(body)["data"]["score_id"] == score_id
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign_payload(secret, body, int(clock.now().timestamp())),
    }
    again = world.scoring_client.post("/v1/inbound/loans", content=body, headers=headers)
    assert again.status_code == 200 and again.json()["result"] == "duplicate", again.text
    assert sorted(stored_outcomes(scoring_ctx, loan["id"])) == sorted(expected)

    # A delivery signed with another secret is refused.
    forged = world.scoring_client.post(
        "/v1/inbound/loans",
        content=body,
        headers={
            **headers,
            SIGNATURE_HEADER: sign_payload("not-the-secret", body, int(clock.now().timestamp())),
        },
    )
    assert forged.status_code == 401
