"""Race on PostgreSQL: releases against the close of the assignment they sweep.

Each release either swept before the close or not at all; nothing is swept after it, and
every minor unit is accounted for. SQLite serialises every writer, so this only means
something on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.escrow.kit import EscrowApi
from tests.factories.escrow import AssignmentPayloadFactory
from tests.support import auth, race

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("postgres_only")]


def _delivered(api: EscrowApi) -> str:
    eid = str(api.create(lots=[{"lot_ref": "A", "amount_minor": 10_000}])["id"])
    api.fund(eid)
    api.ship_and_deliver(eid, "A")
    return eid


def test_releases_racing_a_close_sweep_only_before_it(api: EscrowApi) -> None:
    assignment = api.post(
        "/v1/assignments",
        AssignmentPayloadFactory(share_bps=5_000, cap_minor=1_000_000),
        key="service",
        expect=201,
    )
    escrows = [_delivered(api) for _ in range(6)]
    market = auth(api.keys["market"])
    service = auth(api.keys["service"], **{"Idempotency-Key": "close-race"})

    def act(i: int) -> Any:
        if i < len(escrows):
            return api.client.post(f"/v1/escrows/{escrows[i]}/lots/A/accept", headers=market)
        return api.client.post(f"/v1/assignments/{assignment['id']}/close", headers=service)

    responses = race(len(escrows) + 1, act)
    assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
    closed = api.get(f"/v1/assignments/{assignment['id']}", key="auditor")
    assert closed["status"] == "closed"
    sweeps = [e["payload"]["amount_minor"] for e in api.events("assignment.swept")]
    assert set(sweeps) <= {4_875} and sum(sweeps) == closed["swept_minor"]
    assert closed["swept_minor"] == responses[-1].json()["swept_minor"]  # none after the close
    eid = _delivered(api)
    api.lot(eid, "A", "accept")
    balances = api.balances()
    assert -balances.get("lender_receivable:lender-1:KES", 0) == closed["swept_minor"]
    assert -balances["seller_payable:seller-1:KES"] == 7 * 9_750 - closed["swept_minor"]
    assert api.verify()["ok"]
