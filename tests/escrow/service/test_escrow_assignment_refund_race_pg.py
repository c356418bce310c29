"""Race on PostgreSQL: refunds of swept money against releases sweeping the same assignment.

The refund locks the assignment's row, as a sweeping release does, so each refund sees the
sweeps committed before it and none after: whatever the interleaving, nothing is refunded
that was not swept, the lender's receivable never goes negative (a lender payout joins the
race), and every minor unit is accounted for. SQLite serialises every writer, so this only
means something on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.escrow.models import AssignmentRefundRow
from tests.escrow.kit import EscrowApi
from tests.factories.escrow import AssignmentPayloadFactory
from tests.support import auth, race

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("postgres_only")]

NET = 9_750  # each release: 10,000 less the 250 fee
SWEEP = 4_875  # half of it, under a 5,000 bps assignment


def _delivered(api: EscrowApi) -> str:
    eid = str(api.create(lots=[{"lot_ref": "A", "amount_minor": 10_000}])["id"])
    api.fund(eid)
    api.ship_and_deliver(eid, "A")
    return eid


def _assign(api: EscrowApi) -> dict[str, Any]:
    body = AssignmentPayloadFactory(share_bps=5_000, cap_minor=1_000_000)
    return api.post("/v1/assignments", body, key="service", expect=201)


def test_refunds_racing_releases_and_a_lender_payout_never_refund_more_than_swept(api: EscrowApi) -> None:
    assignment = _assign(api)
    api.lot(_delivered(api), "A", "accept")  # 4,875 swept before the race
    escrows = [_delivered(api) for _ in range(3)]
    refunds = [2_000] * 5  # 10,000: more than the 4,875 swept at the start, less than 4 sweeps
    market = auth(api.keys["market"])
    service = auth(api.keys["service"])
    admin = auth(api.keys["admin"])
    path = f"/v1/assignments/{assignment['id']}/refunds"

    def act(i: int) -> Any:
        if i < len(escrows):
            return api.client.post(f"/v1/escrows/{escrows[i]}/lots/A/accept", headers=market)
        if i < len(escrows) + len(refunds):
            body = {"amount_minor": refunds[i - len(escrows)], "reference": f"r-{i}", "reason": "over-paid"}
            return api.client.post(path, json=body, headers=service)
        body = {"lender_id": "lender-1", "currency": "KES", "amount_minor": 6_000}
        return api.client.post("/v1/payouts", json=body, headers=admin)

    responses = race(len(escrows) + len(refunds) + 1, act)
    accepts, refunded, [payout] = (
        responses[: len(escrows)],
        responses[len(escrows) : -1],
        responses[-1:],
    )
    assert {r.status_code for r in accepts} == {200}, [r.text for r in accepts]
    assert {r.status_code for r in refunded} <= {201, 409}, [r.text for r in refunded]
    assert payout.status_code in (201, 409), payout.text
    for refused in (r for r in refunded if r.status_code == 409):
        assert refused.json()["current_state"] in ("exceeds_swept", "lender_paid_out"), refused.text
    made = sum(r.json()["amount_minor"] for r in refunded if r.status_code == 201)
    paid = payout.json()["amount_minor"] if payout.status_code == 201 else 0

    after = api.get(f"/v1/assignments/{assignment['id']}/sweeps", key="auditor")
    assert after["swept_minor"] == 4 * SWEEP == sum(s["amount_minor"] for s in after["sweeps"])
    assert after["refunded_minor"] == made == sum(r["amount_minor"] for r in after["refunds"])
    assert made <= after["swept_minor"]
    assert api.count(AssignmentRefundRow.__table__) == len(after["refunds"])
    balances = api.balances()
    lender = -balances.get("lender_receivable:lender-1:KES", 0)
    assert lender == 4 * SWEEP - made - paid and lender >= 0
    assert -balances["seller_payable:seller-1:KES"] == 4 * NET - 4 * SWEEP + made
    assert api.verify()["ok"]


def test_the_same_reference_raced_makes_one_refund(api: EscrowApi) -> None:
    assignment = _assign(api)
    api.lot(_delivered(api), "A", "accept")
    body = {"amount_minor": 1_000, "reference": "sweep-event-1", "reason": "over-paid"}
    service = auth(api.keys["service"])
    path = f"/v1/assignments/{assignment['id']}/refunds"
    responses = race(4, lambda _: api.client.post(path, json=body, headers=service))
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201], [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert api.count(AssignmentRefundRow.__table__) == 1
    assert api.get(f"/v1/assignments/{assignment['id']}", key="auditor")["refunded_minor"] == 1_000
    assert -api.balances()["lender_receivable:lender-1:KES"] == SWEEP - 1_000
    assert api.verify()["ok"]
