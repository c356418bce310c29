"""Money out (payouts) and assignments of proceeds to lenders."""

from __future__ import annotations

from tests.escrow.kit import EscrowApi
from tests.factories.escrow import AssignmentPayloadFactory
from tests.support import assert_problem as is_problem
from tests.support import auth


def _released(api: EscrowApi, seller: str = "seller-1") -> str:
    eid = api.create(seller_id=seller, lots=[{"lot_ref": "A", "amount_minor": 10_000}])["id"]
    api.fund(eid)
    api.ship_and_deliver(eid, "A")
    api.lot(eid, "A", "accept")
    return str(eid)


def test_a_partial_payout_then_the_rest_then_nothing_is_owed(api: EscrowApi) -> None:
    _released(api)  # seller-1 is owed 10,000 - 250 fee = 9,750
    first = api.post(
        "/v1/payouts",
        {"seller_id": "seller-1", "currency": "KES", "amount_minor": 4_000},
        key="admin",
        expect=201,
    )
    assert first["amount_minor"] == 4_000 and first["payee_kind"] == "seller"
    over = is_problem(
        api.client.post(
            "/v1/payouts",
            json={"seller_id": "seller-1", "currency": "KES", "amount_minor": 5_751},
            headers=auth(api.keys["admin"]),
        ),
        409,
    )
    assert over["current_state"] == "insufficient_funds" and over["balance_minor"] == 5_750
    rest = api.post("/v1/payouts", {"seller_id": "seller-1", "currency": "KES"}, key="admin", expect=201)
    assert rest["amount_minor"] == 5_750
    nothing = is_problem(
        api.client.post(
            "/v1/payouts", json={"seller_id": "seller-1", "currency": "KES"}, headers=auth(api.keys["admin"])
        ),
        409,
    )
    assert nothing["current_state"] == "nothing_owed"
    is_problem(
        api.client.post(
            "/v1/payouts", json={"seller_id": "nobody", "currency": "KES"}, headers=auth(api.keys["admin"])
        ),
        404,
    )
    listed = api.get("/v1/payouts?payee_id=seller-1", key="auditor")["payouts"]
    assert sorted(p["amount_minor"] for p in listed) == [4_000, 5_750]
    assert [e["payload"]["amount_minor"] for e in api.events("payout.sent")] == [4_000, 5_750]
    assert api.verify()["ok"]


def test_a_settled_payout_cannot_be_settled_again(api: EscrowApi) -> None:
    _released(api)
    payout = api.post("/v1/payouts", {"seller_id": "seller-1", "currency": "KES"}, key="admin", expect=201)
    api.post(f"/v1/sandbox/payouts/{payout['id']}/settle", key="admin")
    again = is_problem(
        api.client.post(f"/v1/sandbox/payouts/{payout['id']}/settle", headers=auth(api.keys["admin"])), 409
    )
    assert again["current_state"] == "settled"
    assert api.get(f"/v1/payouts/{payout['id']}", key="auditor")["status"] == "settled"
    assert [e["topic"] for e in api.events() if e["topic"].startswith("payout.")] == [
        "payout.sent",
        "payout.settled",
    ]


def test_assignment_sweeps_every_release_until_the_cap(api: EscrowApi) -> None:
    assignment = api.post(
        "/v1/assignments", AssignmentPayloadFactory(share_bps=5_000, cap_minor=6_000), key="admin", expect=201
    )
    for _ in range(3):
        _released(api)  # each release nets 9,750; half of it is 4,875
    swept = [e["payload"]["amount_minor"] for e in api.events("assignment.swept")]
    assert swept == [4_875, 1_125]
    after = api.get(f"/v1/assignments/{assignment['id']}", key="service")
    assert (after["swept_minor"], after["remaining_minor"], after["status"]) == (6_000, 0, "repaid")
    balances = api.balances()
    assert balances["lender_receivable:lender-1:KES"] == -6_000
    assert balances["seller_payable:seller-1:KES"] == -(3 * 9_750 - 6_000)
    lender = api.post("/v1/payouts", {"lender_id": "lender-1", "currency": "KES"}, key="admin", expect=201)
    assert lender["amount_minor"] == 6_000


def test_assignments_of_one_seller_may_not_exceed_all_of_a_release(api: EscrowApi) -> None:
    api.post("/v1/assignments", AssignmentPayloadFactory(share_bps=6_000), key="service", expect=201)
    body = is_problem(
        api.client.post(
            "/v1/assignments",
            json=AssignmentPayloadFactory(share_bps=4_001),
            headers=auth(api.keys["service"]),
        ),
        409,
    )
    assert body["assigned_bps"] == 6_000
    # Another currency, or another seller, is separate.
    api.post(
        "/v1/assignments",
        AssignmentPayloadFactory(share_bps=4_001, currency="UGX"),
        key="service",
        expect=201,
    )
    api.post("/v1/assignments", AssignmentPayloadFactory(share_bps=4_000), key="service", expect=201)
    listed = api.get("/v1/assignments?seller_id=seller-1", key="auditor")["assignments"]
    assert len(listed) == 3
    is_problem(api.client.get("/v1/assignments/nope", headers=auth(api.keys["auditor"])), 404)


def test_a_release_in_another_currency_sweeps_nothing(api: EscrowApi) -> None:
    api.post("/v1/assignments", AssignmentPayloadFactory(currency="UGX"), key="service", expect=201)
    _released(api)
    assert api.events("assignment.swept") == []
