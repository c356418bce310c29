"""The escrow lifecycle over HTTP: every lot action, cancel, and 409s naming state and actions."""

from __future__ import annotations

from datetime import timedelta

from shared.clock import ManualClock
from tests.escrow.kit import EscrowApi, assert_conserved
from tests.support import assert_problem as is_problem
from tests.support import auth


def _funded(api: EscrowApi, **overrides: object) -> str:
    eid = api.create(**overrides)["id"]
    api.fund(eid)
    return str(eid)


def test_an_action_in_the_wrong_state_is_409_naming_state_and_allowed_actions(api: EscrowApi) -> None:
    eid = api.create()["id"]
    headers = auth(api.keys["market"])
    ship = {"carrier": "G4S", "tracking": "1"}
    body = is_problem(api.client.post(f"/v1/escrows/{eid}/lots/A/ship", json=ship, headers=headers), 409)
    assert body["current_state"] == "pending (escrow created)" and body["allowed_actions"] == []

    api.fund(eid)
    body = is_problem(api.client.post(f"/v1/escrows/{eid}/lots/A/accept", headers=headers), 409)
    assert body["current_state"] == "pending" and body["allowed_actions"] == ["ship"]
    assert "cannot accept lot 'A'" in body["detail"]

    api.lot(eid, "A", "ship", {"carrier": "G4S", "tracking": "KE-1"})
    body = is_problem(api.client.post(f"/v1/escrows/{eid}/cancel", headers=headers), 409)
    assert body["current_state"] == "in_progress" and body["allowed_actions"] == []
    body = is_problem(api.client.post(f"/v1/escrows/{eid}/fund", headers=headers), 409)
    assert body["current_state"] == "in_progress"


def test_allowed_actions_follow_the_lot(api: EscrowApi) -> None:
    eid = _funded(api)
    escrow = api.escrow(eid)
    assert escrow["allowed_actions"] == ["cancel"]
    assert [lot["allowed_actions"] for lot in escrow["lots"]] == [["ship"], ["ship"]]
    escrow = api.lot(eid, "A", "ship", {"carrier": "G4S", "tracking": "KE-1"})
    assert escrow["lots"][0]["allowed_actions"] == ["deliver", "dispute"]
    escrow = api.lot(eid, "A", "deliver")
    assert escrow["lots"][0]["allowed_actions"] == ["accept", "dispute", "reject"]
    assert escrow["lots"][0]["inspection_ends_at"] == "2026-03-05T08:00:00Z"


def test_reject_then_return_received_refunds_the_lot(api: EscrowApi) -> None:
    eid = _funded(api)
    api.ship_and_deliver(eid, "A")
    escrow = api.lot(eid, "A", "reject", {"reason": "mouldy"})
    assert escrow["lots"][0]["status"] == "rejected"
    assert escrow["lots"][0]["allowed_actions"] == ["dispute", "return_received"]
    escrow = api.lot(eid, "A", "return-received")
    assert (escrow["lots"][0]["status"], escrow["refunded_minor"], escrow["held_minor"]) == (
        "returned",
        60_000,
        40_000,
    )
    assert_conserved(escrow)
    assert [e["payload"]["amount_minor"] for e in api.events("lot.refunded")] == [60_000]


def test_cancel_unfunded_moves_no_money_and_funded_refunds_in_full(api: EscrowApi) -> None:
    unfunded = api.create()["id"]
    escrow = api.post(f"/v1/escrows/{unfunded}/cancel")
    assert (escrow["status"], escrow["funded_minor"], escrow["refunded_minor"]) == ("cancelled", 0, 0)
    assert api.get(f"/v1/escrows/{unfunded}/entries")["entries"] == []

    funded = _funded(api)
    escrow = api.post(f"/v1/escrows/{funded}/cancel", {"reason": "buyer changed mind"})
    assert (escrow["status"], escrow["refunded_minor"], escrow["held_minor"]) == ("cancelled", 100_000, 0)
    assert {lot["status"] for lot in escrow["lots"]} == {"cancelled"}
    assert api.events("escrow.refunded")[0]["payload"]["amount_minor"] == 100_000


def test_refund_undelivered_only_after_the_delivery_deadline(api: EscrowApi, clock: ManualClock) -> None:
    late_b = {"lot_ref": "B", "amount_minor": 40_000, "delivery_deadline": "2026-03-20T08:00:00Z"}
    eid = _funded(api, lots=[{"lot_ref": "A", "amount_minor": 60_000}, late_b])
    api.lot(eid, "A", "ship", {"carrier": "G4S", "tracking": "KE-1"})
    body = is_problem(
        api.client.post(f"/v1/escrows/{eid}/lots/A/refund-undelivered", headers=auth(api.keys["market"])), 409
    )
    assert body["current_state"] == "shipped" and body["allowed_actions"] == ["deliver", "dispute"]

    clock.advance(timedelta(days=10))  # lot A's deadline (the escrow's) has passed; B's has not
    escrow = api.lot(eid, "A", "refund-undelivered")
    assert escrow["lots"][0]["status"] == "refunded" and escrow["refunded_minor"] == 60_000
    assert escrow["lots"][1]["allowed_actions"] == ["ship"]
    assert_conserved(escrow)


def test_partial_acceptance_after_inspection_and_out_of_range_amounts_are_422(
    api: EscrowApi, clock: ManualClock
) -> None:
    eid = _funded(api)
    api.ship_and_deliver(eid, "A")
    headers = auth(api.keys["market"])
    too_much = is_problem(
        api.client.post(f"/v1/escrows/{eid}/lots/A/accept", json={"amount_minor": 60_001}, headers=headers),
        422,
    )
    assert too_much["errors"][0]["field"] == "amount_minor"
    clock.advance(timedelta(days=3))
    late = is_problem(
        api.client.post(f"/v1/escrows/{eid}/lots/A/accept", json={"amount_minor": 100}, headers=headers), 422
    )
    assert "inspection" in late["detail"]
    # A full acceptance after inspection is still fine (it is what auto-release would do).
    assert api.lot(eid, "A", "accept")["lots"][0]["status"] == "accepted"


def test_only_an_admin_resolves_a_dispute(api: EscrowApi) -> None:
    eid = _funded(api)
    api.ship_and_deliver(eid, "A")
    api.lot(eid, "A", "dispute", {"reason": "wrong grade"})
    body = is_problem(
        api.client.post(
            f"/v1/escrows/{eid}/lots/A/resolve", json={"seller_minor": 1}, headers=auth(api.keys["market"])
        ),
        403,
    )
    assert body["allowed_roles"] == ["admin"]
    over = is_problem(
        api.client.post(
            f"/v1/escrows/{eid}/lots/A/resolve",
            json={"seller_minor": 60_001},
            headers=auth(api.keys["admin"]),
        ),
        422,
    )
    assert over["errors"][0]["field"] == "seller_minor"
    escrow = api.lot(eid, "A", "resolve", {"seller_minor": 0}, key="admin")
    assert (escrow["lots"][0]["status"], escrow["refunded_minor"]) == ("resolved", 60_000)
    assert [e["topic"] for e in api.events() if e["topic"].startswith(("escrow.disputed", "dispute."))] == [
        "escrow.disputed",
        "dispute.resolved",
    ]


def test_unknown_lot_is_404_and_funding_twice_returns_the_pending_payment(api: EscrowApi) -> None:
    eid = api.create()["id"]
    first = api.post(f"/v1/escrows/{eid}/fund", expect=202)
    second = api.post(f"/v1/escrows/{eid}/fund", expect=202)
    assert first == second and first["status"] == "pending" and first["provider"] == "sandbox"
    api.post(f"/v1/sandbox/payments/{first['id']}/confirm", key="admin")
    is_problem(
        api.client.post(
            f"/v1/escrows/{eid}/lots/Z/ship",
            json={"carrier": "x", "tracking": "y"},
            headers=auth(api.keys["market"]),
        ),
        404,
    )


def test_the_timeline_tells_the_story(api: EscrowApi) -> None:
    eid = _funded(api)
    api.ship_and_deliver(eid, "A")
    escrow = api.lot(eid, "A", "accept", {"amount_minor": 50_000})
    story = [(item["event"], item["lot_ref"]) for item in escrow["timeline"]]
    assert story == [
        ("created", None),
        ("payment.started", None),
        ("fund", None),
        ("ship", "A"),
        ("deliver", "A"),
        ("accept", "A"),
    ]
    accept = escrow["timeline"][-1]
    assert accept["actor"].startswith("marketplace:") and accept["actor"].endswith(":shop-1")
    assert accept["data"] == {
        "accepted_minor": 50_000,
        "released_minor": 50_000,
        "fee_minor": 1_250,
        "net_minor": 48_750,
        "refunded_minor": 10_000,
    }
    assert escrow["timeline"][2]["actor"] == "provider:sandbox"
