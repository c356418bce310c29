"""POST /v1/assignments/{id}/refunds and GET /v1/assignments/{id}/sweeps.

A sweep that over-paid its loan goes back to the seller: Dr lender_receivable, Cr
seller_payable. Every release below is one KES lot of 10,000: 9,750 net of the 250 fee, half
of it (4,875) swept to lender-1 under a 5,000 bps assignment.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.escrow.models import AssignmentRefundRow
from shared.platform import ServiceContext
from tests.escrow.kit import EscrowApi
from tests.factories.escrow import AssignmentPayloadFactory
from tests.support import assert_problem as is_problem
from tests.support import auth

REFUNDS = AssignmentRefundRow.__table__


def _release(api: EscrowApi) -> None:
    eid = api.create(lots=[{"lot_ref": "A", "amount_minor": 10_000}])["id"]
    api.fund(eid)
    api.ship_and_deliver(eid, "A")
    api.lot(eid, "A", "accept")


def _assign(api: EscrowApi, **overrides: Any) -> dict[str, Any]:
    body = AssignmentPayloadFactory(share_bps=5_000, cap_minor=20_000) | overrides
    return api.post("/v1/assignments", body, key="service", expect=201)


def _refund(
    api: EscrowApi,
    assignment_id: str,
    amount: Any = 1_000,
    *,
    reference: str = "sweep-1",
    key: str = "service",
) -> Any:
    body = {"amount_minor": amount, "reference": reference, "reason": "the loan was repaid first"}
    return api.client.post(f"/v1/assignments/{assignment_id}/refunds", json=body, headers=auth(api.keys[key]))


def _state(api: EscrowApi, assignment_id: str) -> tuple[Any, ...]:
    """Everything a refused refund must leave as it was."""
    events = [e["topic"] for e in api.events()]
    audit = [e["action"] for e in api.get("/v1/audit/entries", key="auditor")["entries"]]
    assignment = api.get(f"/v1/assignments/{assignment_id}", key="auditor")
    return api.balances(), api.count(REFUNDS), events, audit, assignment


def test_a_refund_moves_swept_money_back_to_the_seller(api: EscrowApi) -> None:
    assignment = _assign(api)
    _release(api)
    before = api.trial_balance()
    response = _refund(api, assignment["id"], 1_000)
    assert response.status_code == 201, response.text
    refund = response.json()
    assert (refund["assignment_id"], refund["reference"], refund["amount_minor"]) == (
        assignment["id"],
        "sweep-1",
        1_000,
    )
    assert refund["created_by"].startswith("service:") and refund["currency"] == "KES"
    balances = api.balances()
    assert balances["lender_receivable:lender-1:KES"] == -(4_875 - 1_000)
    assert balances["seller_payable:seller-1:KES"] == -(9_750 - 4_875 + 1_000)
    after = api.get(f"/v1/assignments/{assignment['id']}", key="auditor")
    assert (after["swept_minor"], after["refunded_minor"], after["remaining_minor"]) == (4_875, 1_000, 15_125)
    # The trial balance moves between the two accounts, its columns still agree, the ledger verifies.
    tb = api.trial_balance()
    assert tb["balanced"] and tb["currencies"] == before["currencies"]
    assert api.verify()["ok"]
    [entry] = api.events("assignment.refunded")
    assert entry["payload"]["amount_minor"] == 1_000 and entry["payload"]["refunded_minor"] == 1_000
    assert entry["subject"] == f"assignment:{assignment['id']}"
    [audited] = [
        e
        for e in api.get("/v1/audit/entries", key="auditor")["entries"]
        if e["action"] == "assignment.refunded"
    ]
    assert audited["payload"]["legs"] == [
        ["lender_receivable:lender-1:KES", "debit", 1_000],
        ["seller_payable:seller-1:KES", "credit", 1_000],
    ]
    # The seller can be paid the refund out.
    payout = api.post("/v1/payouts", {"seller_id": "seller-1", "currency": "KES"}, key="admin", expect=201)
    assert payout["amount_minor"] == 9_750 - 4_875 + 1_000


def test_the_same_reference_answers_the_first_refund_and_another_amount_is_409(api: EscrowApi) -> None:
    assignment = _assign(api)
    _release(api)
    first = _refund(api, assignment["id"], 1_000)
    assert first.status_code == 201
    state = _state(api, assignment["id"])
    again = _refund(api, assignment["id"], 1_000, key="admin")  # another caller, another request
    assert again.status_code == 200 and again.json() == first.json()
    assert _state(api, assignment["id"]) == state
    other = is_problem(_refund(api, assignment["id"], 1_001), 409)
    assert (other["current_state"], other["amount_minor"]) == ("reference_used", 1_000)
    assert _state(api, assignment["id"]) == state
    # A new reference is a new refund.
    assert _refund(api, assignment["id"], 500, reference="sweep-2").status_code == 201
    assert api.get(f"/v1/assignments/{assignment['id']}", key="auditor")["refunded_minor"] == 1_500


def test_an_idempotency_key_replays_the_answer(api: EscrowApi) -> None:
    assignment = _assign(api)
    _release(api)
    body = {"amount_minor": 700, "reference": "r-1", "reason": "over-paid"}
    headers = auth(api.keys["service"], **{"Idempotency-Key": "refund-key-1"})
    path = f"/v1/assignments/{assignment['id']}/refunds"
    first = api.client.post(path, json=body, headers=headers)
    replay = api.client.post(path, json=body, headers=headers)
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.headers.get("Idempotent-Replayed") == "true" and replay.json() == first.json()
    is_problem(api.client.post(path, json=body | {"amount_minor": 701}, headers=headers), 422)
    assert api.count(REFUNDS) == 1


def test_more_than_swept_and_not_refunded_is_409_and_changes_nothing(api: EscrowApi) -> None:
    assignment = _assign(api)
    _release(api)
    assert _refund(api, assignment["id"], 4_000).status_code == 201
    state = _state(api, assignment["id"])
    body = is_problem(_refund(api, assignment["id"], 876, reference="sweep-2"), 409)
    assert (body["current_state"], body["available_minor"]) == ("exceeds_swept", 875)
    assert _state(api, assignment["id"]) == state
    assert _refund(api, assignment["id"], 875, reference="sweep-2").status_code == 201
    nothing_left = is_problem(_refund(api, assignment["id"], 1, reference="sweep-3"), 409)
    assert nothing_left["available_minor"] == 0
    assert api.verify()["ok"]


def test_nothing_swept_yet_means_nothing_to_refund(api: EscrowApi) -> None:
    assignment = _assign(api)
    state = _state(api, assignment["id"])
    assert is_problem(_refund(api, assignment["id"], 1), 409)["current_state"] == "exceeds_swept"
    assert _state(api, assignment["id"]) == state


def test_a_lender_paid_out_cannot_refund_and_is_told_so(api: EscrowApi) -> None:
    assignment = _assign(api)
    _release(api)
    api.post(
        "/v1/payouts",
        {"lender_id": "lender-1", "currency": "KES", "amount_minor": 4_000},
        key="admin",
        expect=201,
    )
    state = _state(api, assignment["id"])
    body = is_problem(_refund(api, assignment["id"], 1_000), 409)
    assert (body["current_state"], body["available_minor"]) == ("lender_paid_out", 875)
    assert "paid out" in body["detail"]
    assert _state(api, assignment["id"]) == state
    assert _refund(api, assignment["id"], 875).status_code == 201
    assert api.balances().get("lender_receivable:lender-1:KES", 0) == 0
    assert api.verify()["ok"]


def test_repaid_and_closed_assignments_can_be_refunded(api: EscrowApi) -> None:
    repaid = _assign(api, cap_minor=1_000)
    _release(api)
    assert api.get(f"/v1/assignments/{repaid['id']}", key="auditor")["status"] == "repaid"
    assert _refund(api, repaid["id"], 300).status_code == 201
    closed = _assign(api, share_bps=1_000)
    _release(api)  # 10% of 9,750 = 975 swept to the second one
    api.post(f"/v1/assignments/{closed['id']}/close", key="service")
    assert _refund(api, closed["id"], 975, reference="last").status_code == 201
    after = api.get(f"/v1/assignments/{closed['id']}", key="auditor")
    assert (after["status"], after["refunded_minor"]) == ("closed", 975)
    assert api.get(f"/v1/assignments/{repaid['id']}", key="auditor")["status"] == "repaid"
    assert api.verify()["ok"]


def test_only_admins_and_loans_refund_and_an_unknown_assignment_is_404(api: EscrowApi) -> None:
    assignment = _assign(api)
    _release(api)
    state = _state(api, assignment["id"])
    for key in ("market", "auditor", "officer"):
        is_problem(_refund(api, assignment["id"], key=key), 403)
    is_problem(_refund(api, "no-such-assignment"), 404)
    assert _state(api, assignment["id"]) == state
    assert _refund(api, assignment["id"], key="admin").status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"amount_minor": 0, "reference": "r", "reason": "x"},
        {"amount_minor": -5, "reference": "r", "reason": "x"},
        {"amount_minor": 10.5, "reference": "r", "reason": "x"},
        {"amount_minor": "100", "reference": "r", "reason": "x"},
        {"amount_minor": 100, "reference": "", "reason": "x"},
        {"amount_minor": 100, "reference": "r" * 129, "reason": "x"},
        {"amount_minor": 100, "reference": "r", "reason": ""},
        {"amount_minor": 100, "reference": "r", "reason": "x" * 501},
        {"amount_minor": 100, "reason": "x"},
        {"amount_minor": 100, "reference": "r"},
        {"amount_minor": 100, "reference": "r", "reason": "x", "currency": "KES"},
    ],
)
def test_bad_bodies_are_422_and_change_nothing(api: EscrowApi, body: dict[str, Any]) -> None:
    assignment = _assign(api)
    _release(api)
    state = _state(api, assignment["id"])
    path = f"/v1/assignments/{assignment['id']}/refunds"
    is_problem(api.client.post(path, json=body, headers=auth(api.keys["service"])), 422)
    assert _state(api, assignment["id"]) == state


def test_the_sweeps_of_an_assignment_carry_their_event_ids_and_the_refunds(
    api: EscrowApi, ctx: ServiceContext
) -> None:
    assignment = _assign(api, cap_minor=6_000)
    other = _assign(api, seller_id="seller-2")  # another seller's assignment: none of its sweeps
    for _ in range(2):
        _release(api)  # 4,875 then the 1,125 left of the cap
    assert _refund(api, assignment["id"], 1_125, reference="event-2").status_code == 201
    assert _refund(api, assignment["id"], 100, reference="event-1").status_code == 201
    for key in ("auditor", "service", "admin"):
        view = api.get(f"/v1/assignments/{assignment['id']}/sweeps", key=key)
        assert view["assignment"]["id"] == assignment["id"]
    swept_events = api.events("assignment.swept")
    assert [s["event_id"] for s in view["sweeps"]] == [e["id"] for e in swept_events]
    assert [s["amount_minor"] for s in view["sweeps"]] == [4_875, 1_125]
    assert [s["entry_ref"] for s in view["sweeps"]] == [e["payload"]["entry_ref"] for e in swept_events]
    assert all(s["lot_ref"] == "A" for s in view["sweeps"])
    assert [(r["reference"], r["amount_minor"]) for r in view["refunds"]] == [
        ("event-2", 1_125),
        ("event-1", 100),
    ]
    assert all(r["created_by"].startswith("service:") and r["reason"] for r in view["refunds"])
    assert (view["swept_minor"], view["refunded_minor"], view["net_minor"]) == (6_000, 1_225, 4_775)
    assert view["assignment"]["refunded_minor"] == 1_225
    empty = api.get(f"/v1/assignments/{other['id']}/sweeps", key="auditor")
    assert (empty["sweeps"], empty["refunds"], empty["net_minor"]) == ([], [], 0)
    for key in ("market", "officer"):
        is_problem(
            api.client.get(f"/v1/assignments/{assignment['id']}/sweeps", headers=auth(api.keys[key])), 403
        )
    is_problem(api.client.get("/v1/assignments/nope/sweeps", headers=auth(api.keys["auditor"])), 404)
