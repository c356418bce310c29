"""Races on PostgreSQL: releases against an assignment of proceeds being repaid (closed) and
against new assignments of the same seller.

Threads send their own requests through the TestClient, released together by a barrier.
SQLite serialises every writer, so these races only mean something on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.escrow.kit import EscrowApi, assert_conserved
from tests.factories.escrow import AssignmentPayloadFactory
from tests.support import auth, race

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("postgres_only")]


def _delivered(api: EscrowApi, amount: int) -> str:
    eid = str(api.create(lots=[{"lot_ref": "A", "amount_minor": amount}])["id"])
    api.fund(eid)
    api.ship_and_deliver(eid, "A")
    return eid


def test_releases_against_an_assignment_being_repaid_and_new_ones(api: EscrowApi) -> None:
    """Eight releases race with two new assignments of the same seller while the first one
    is repaid: the closing one takes exactly its cap, the new ones never exceed 10,000 bps
    together with it, and every minor unit of every release is accounted for."""
    first = api.post(
        "/v1/assignments",
        AssignmentPayloadFactory(share_bps=4_000, cap_minor=9_000),
        key="service",
        expect=201,
    )
    escrows = [_delivered(api, 10_000) for _ in range(8)]
    market, service = auth(api.keys["market"]), auth(api.keys["service"])

    def act(i: int) -> Any:
        if i < 8:
            return api.client.post(f"/v1/escrows/{escrows[i]}/lots/A/accept", headers=market)
        body = AssignmentPayloadFactory(lender_id=f"lender-{i}", share_bps=4_000, cap_minor=50_000)
        return api.client.post("/v1/assignments", json=body, headers=service)

    responses = race(10, act)
    assert {r.status_code for r in responses[:8]} == {200}, [r.text for r in responses[:8]]
    assert {r.status_code for r in responses[8:]} <= {201, 409}
    closed = api.get(f"/v1/assignments/{first['id']}", key="auditor")
    assert (closed["swept_minor"], closed["status"]) == (9_000, "repaid")
    assignments = api.get("/v1/assignments", key="auditor")
    rows = assignments["assignments"] if isinstance(assignments, dict) else assignments
    for row in rows:
        assert 0 <= row["swept_minor"] <= row["cap_minor"]
    balances = api.balances()
    swept = sum(-v for k, v in balances.items() if k.startswith("lender_receivable:"))
    assert swept == sum(row["swept_minor"] for row in rows)
    seller = -balances.get("seller_payable:seller-1:KES", 0)
    assert seller + swept == 8 * 9_750  # each release: 10,000 less a 250 fee
    for eid in escrows:
        escrow = api.escrow(eid)
        assert_conserved(escrow)
        assert escrow["held_minor"] == 0
    sweeps = [e["payload"] for e in api.events("assignment.swept")]
    assert sum(s["amount_minor"] for s in sweeps) == swept
    assert api.verify()["ok"]
