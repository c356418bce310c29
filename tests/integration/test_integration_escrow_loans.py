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

import pytest
from fastapi.testclient import TestClient

from shared.clock import ManualClock
from shared.platform import ServiceContext
from shared.webhook_delivery import event_body
from shared.webhooks import SIGNATURE_HEADER, sign_payload
from tests.factories.escrow import AssignmentPayloadFactory
from tests.loans.proceeds_kit import ProceedsWorld, build_world


@pytest.fixture
def world(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient], clock: ManualClock
) -> ProceedsWorld:
    return build_world(make_ctx, client_for, clock)


def test_a_sweep_becomes_a_sale_proceeds_repayment_exactly_once(
    world: ProceedsWorld, clock: ManualClock
) -> None:
    escrow, loans, loans_ctx, loans_client = world.escrow, world.loans, world.loans_ctx, world.loans_client
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

    assert world.deliver_events() == 1

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
