"""Repayment from sale proceeds, across two services.

A farmer with a loan sells maize on the marketplace; the seller assigned 50% of every escrow
release to the lender. When the buyer accepts, escrow sweeps the lender's share and emits
``assignment.swept``; the worker delivers it as a signed webhook to loans, which posts a
``sale_proceeds`` repayment on the loan. A redelivery (at-least-once) pays nothing twice, and a
forged delivery is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from services.escrow.app import create_app as create_escrow_app
from services.loans.app import create_app as create_loans_app
from services.loans.settings import LoansSettings
from shared.auth import Role
from shared.clock import ManualClock
from shared.platform import ServiceContext
from shared.webhook_delivery import (
    deliver_due,
    dispatch_events,
    event_body,
)
from shared.webhooks import (
    SIGNATURE_HEADER,
    create_subscription,
    sign_payload,
)
from tests.escrow.kit import EscrowApi
from tests.factories.escrow import AssignmentPayloadFactory
from tests.loans.kit import FakeScoring, LoansApi
from tests.support import issue_key

LOANS_URL = "http://loans.test/v1/inbound/escrow"


@pytest.fixture
def world(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient], clock: ManualClock
) -> tuple[EscrowApi, LoansApi, ServiceContext, ServiceContext, TestClient]:
    escrow_ctx, loans_ctx = make_ctx("escrow"), make_ctx("loans")
    escrow_keys = {
        name: issue_key(escrow_ctx, role, owner)
        for name, role, owner in (
            ("market", Role.MARKETPLACE, "shop-1"),
            ("admin", Role.ADMIN, None),
            ("auditor", Role.AUDITOR, None),
            ("service", Role.SERVICE, "loans"),
        )
    }
    loans_keys = {
        name: issue_key(loans_ctx, role)
        for name, role in (
            ("officer", Role.LOAN_OFFICER),
            ("manager", Role.CREDIT_MANAGER),
            ("admin", Role.ADMIN),
            ("auditor", Role.AUDITOR),
        )
    }
    with escrow_ctx.db.unit_of_work() as session:
        _, secret = create_subscription(
            session,
            escrow_ctx.tables,
            escrow_ctx.keyring,
            url=LOANS_URL,
            topics=["assignment.swept"],
            owner=None,
            now=clock.now(),
        )
    assert isinstance(loans_ctx.settings, LoansSettings)
    loans_ctx.settings = loans_ctx.settings.model_copy(update={"escrow_webhook_secret": secret})
    escrow_client = client_for(create_escrow_app(escrow_ctx))
    loans_client = client_for(create_loans_app(loans_ctx, scoring_client=FakeScoring().client()))
    return (
        EscrowApi(escrow_client, escrow_ctx, escrow_keys),
        LoansApi(loans_client, loans_keys),
        escrow_ctx,
        loans_ctx,
        loans_client,
    )


def _network(loans_client: TestClient) -> httpx.Client:
    """What the worker's HTTP client reaches: the loans app, byte for byte."""

    def forward(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == LOANS_URL
        answer = loans_client.post(
            request.url.path,
            content=request.content,
            headers={k: v for k, v in request.headers.items() if k != "host"},
        )
        return httpx.Response(answer.status_code, content=answer.content)

    return httpx.Client(transport=httpx.MockTransport(forward))


def test_a_sweep_becomes_a_sale_proceeds_repayment_exactly_once(
    world: tuple[EscrowApi, LoansApi, ServiceContext, ServiceContext, TestClient], clock: ManualClock
) -> None:
    escrow, loans, escrow_ctx, loans_ctx, loans_client = world
    loans.set_date("2026-03-02")
    product = loans.product(allow_sale_proceeds=True)
    loan = loans.active_loan(product["id"], disburse_on="2026-02-02", principal_minor=500_000)
    escrow.post(
        "/v1/assignments",
        AssignmentPayloadFactory(share_bps=5_000, cap_minor=20_000, loan_ref=loan["id"]),
        key="admin",
        expect=201,
    )

    order = escrow.create()
    escrow.fund(order["id"])
    escrow.ship_and_deliver(order["id"], "A")
    escrow.lot(order["id"], "A", "accept")  # 60,000 gross, fee 1,500, net 58,500: half capped at 20,000
    (swept,) = escrow.events("assignment.swept")
    assert swept["payload"]["amount_minor"] == 20_000

    network = _network(loans_client)
    assert dispatch_events(escrow_ctx.db, escrow_ctx.tables, now=clock.now()) >= 1
    assert deliver_due(escrow_ctx.db, escrow_ctx.tables, escrow_ctx.keyring, network, now=clock.now()) == 1

    (repayment,) = [t for t in loans.transactions(loan["id"]) if t["kind"] == "repayment"]
    assert (repayment["amount_minor"], repayment["source"]) == (20_000, "sale_proceeds")
    assert repayment["external_id"] == f"escrow:{swept['id']}"

    # At-least-once: the same event delivered again changes nothing.
    body = event_body({**swept, "payload": json.dumps(swept["payload"])})
    secret = loans_ctx.settings.escrow_webhook_secret
    assert isinstance(secret, str)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign_payload(secret, body, int(clock.now().timestamp())),
    }
    again = loans_client.post("/v1/inbound/escrow", content=body, headers=headers)
    assert again.status_code == 200 and again.json()["result"] == "duplicate"
    assert len([t for t in loans.transactions(loan["id"]) if t["kind"] == "repayment"]) == 1

    # A forged or stale delivery is refused.
    forged = loans_client.post(
        "/v1/inbound/escrow", content=body, headers={**headers, SIGNATURE_HEADER: "t=1,v1=" + "0" * 64}
    )
    assert forged.status_code == 401
    clock.advance(timedelta(minutes=10))
    stale = loans_client.post("/v1/inbound/escrow", content=body, headers=headers)
    assert stale.status_code == 401
