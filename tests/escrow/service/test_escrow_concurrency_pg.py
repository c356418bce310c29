"""Real concurrent transactions on PostgreSQL: nobody can spend the same money twice.

Every thread sends its own HTTP request through the TestClient (its own event loop, its own
database session and transaction), released together by a barrier. SQLite serialises every
writer with BEGIN IMMEDIATE, so these races only mean something on PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from services.escrow.jobs import auto_release
from shared.clock import ManualClock
from shared.platform import ServiceContext
from tests.escrow.kit import EscrowApi, assert_conserved
from tests.factories.escrow import AssignmentPayloadFactory
from tests.support import auth, race

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("postgres_only")]


def _delivered(api: EscrowApi, **overrides: Any) -> str:
    eid = api.create(**overrides)["id"]
    api.fund(eid)
    api.ship_and_deliver(eid, "A")
    return str(eid)


def test_32_concurrent_accepts_of_one_lot_release_it_exactly_once(api: EscrowApi) -> None:
    eid = _delivered(api)
    headers = auth(api.keys["market"])
    responses = race(32, lambda _: api.client.post(f"/v1/escrows/{eid}/lots/A/accept", headers=headers))
    assert Counter(r.status_code for r in responses) == {200: 1, 409: 31}
    assert {r.json()["current_state"] for r in responses if r.status_code == 409} == {"accepted"}
    entries = api.get(f"/v1/escrows/{eid}/entries")["entries"]
    assert [e["kind"] for e in entries] == ["funding", "release"]
    escrow = api.escrow(eid)
    assert (escrow["released_minor"], escrow["fees_minor"], escrow["held_minor"]) == (58_500, 1_500, 40_000)
    assert len(api.events("lot.released")) == 1
    assert api.verify()["ok"]


def test_concurrent_accept_and_dispute_one_wins_and_the_money_agrees(api: EscrowApi) -> None:
    escrows = [_delivered(api) for _ in range(8)]
    headers = auth(api.keys["market"])

    def act(i: int) -> Any:
        eid = escrows[i // 2]
        if i % 2 == 0:
            return api.client.post(f"/v1/escrows/{eid}/lots/A/accept", headers=headers)
        return api.client.post(f"/v1/escrows/{eid}/lots/A/dispute", json={"reason": "late"}, headers=headers)

    responses = race(16, act)
    for n, eid in enumerate(escrows):
        accept, dispute = responses[2 * n], responses[2 * n + 1]
        assert sorted([accept.status_code, dispute.status_code]) == [200, 409]
        escrow = api.escrow(eid)
        lot = escrow["lots"][0]
        if accept.status_code == 200:
            assert lot["status"] == "accepted" and escrow["released_minor"] == 58_500
            assert dispute.json()["current_state"] == "accepted"
        else:
            assert lot["status"] == "disputed" and escrow["held_minor"] == 100_000
            assert accept.json()["current_state"] == "disputed"
        assert_conserved(escrow)
    assert api.verify()["ok"]


def test_concurrent_idempotent_replays_return_the_first_answer(api: EscrowApi) -> None:
    eid = _delivered(api)
    headers = auth(api.keys["market"], **{"Idempotency-Key": "accept-once"})
    url = f"/v1/escrows/{eid}/lots/A/accept"
    responses = race(12, lambda _: api.client.post(url, json={"amount_minor": 45_000}, headers=headers))
    # Every duplicate waits for the first accept's transaction, then replays its answer.
    assert [r.status_code for r in responses] == [200] * 12
    ok = responses
    assert len([r for r in ok if "idempotent-replayed" not in r.headers]) == 1
    assert len({r.text for r in ok}) == 1
    replay = api.client.post(url, json={"amount_minor": 45_000}, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true" and replay.text == ok[0].text
    kinds = [e["kind"] for e in api.get(f"/v1/escrows/{eid}/entries")["entries"]]
    assert kinds == ["funding", "release", "refund"]


def test_releases_and_payouts_of_one_seller_race_without_overspending(api: EscrowApi) -> None:
    """Ten escrows of one seller released at once, while payouts drain the seller's balance and
    a 50% assignment sweeps releases up to its cap."""
    assignment = api.post(
        "/v1/assignments",
        AssignmentPayloadFactory(share_bps=5_000, cap_minor=20_000),
        key="service",
        expect=201,
    )
    escrows = [_delivered(api, lots=[{"lot_ref": "A", "amount_minor": 10_000}]) for _ in range(10)]
    market, admin = auth(api.keys["market"]), auth(api.keys["admin"])

    def act(i: int) -> Any:
        if i < 10:
            return api.client.post(f"/v1/escrows/{escrows[i]}/lots/A/accept", headers=market)
        return api.client.post(
            "/v1/payouts",
            json={"seller_id": "seller-1", "currency": "KES", "amount_minor": 3_000},
            headers=admin,
        )

    responses = race(20, act)
    assert {r.status_code for r in responses[:10]} == {200}
    paid = [r.json()["amount_minor"] for r in responses[10:] if r.status_code == 201]
    assert {r.status_code for r in responses[10:]} <= {201, 404, 409}
    swept = api.get(f"/v1/assignments/{assignment['id']}", key="auditor")
    assert (swept["swept_minor"], swept["status"]) == (20_000, "repaid")
    assert sum(e["payload"]["amount_minor"] for e in api.events("assignment.swept")) == 20_000
    balances = api.balances()
    seller_owed = -balances.get("seller_payable:seller-1:KES", 0)
    assert seller_owed + sum(paid) == 10 * 9_750 - 20_000 and seller_owed >= 0
    assert balances["lender_receivable:lender-1:KES"] == -20_000
    assert api.verify()["ok"]


def test_worker_replicas_release_each_lot_exactly_once(
    api: EscrowApi, ctx: ServiceContext, clock: ManualClock
) -> None:
    from datetime import timedelta

    escrows = [_delivered(api, lots=[{"lot_ref": "A", "amount_minor": 5_000}]) for _ in range(12)]
    clock.advance(timedelta(days=3))
    counts = race(4, lambda _: auto_release(ctx))
    assert sum(counts) == 12
    assert {api.escrow(eid)["lots"][0]["status"] for eid in escrows} == {"auto_released"}
    assert len(api.events("lot.released")) == 12
    assert api.verify()["ok"]
