"""POST /v1/assignments/{id}/close: a closed assignment is never swept again."""

from __future__ import annotations

from typing import Any

from shared.platform import ServiceContext
from tests.escrow.kit import EscrowApi
from tests.factories.escrow import AssignmentPayloadFactory
from tests.support import assert_problem as is_problem
from tests.support import auth


def _release(api: EscrowApi) -> None:
    """One KES lot of 10,000 released to seller-1: 9,750 net of the 250 fee."""
    eid = api.create(lots=[{"lot_ref": "A", "amount_minor": 10_000}])["id"]
    api.fund(eid)
    api.ship_and_deliver(eid, "A")
    api.lot(eid, "A", "accept")


def _assign(api: EscrowApi, **overrides: Any) -> dict[str, Any]:
    body = AssignmentPayloadFactory(share_bps=5_000, cap_minor=20_000) | overrides
    return api.post("/v1/assignments", body, key="service", expect=201)


def _close(api: EscrowApi, assignment_id: str, *, key: str = "service", idem: str = "close-1") -> Any:
    headers = auth(api.keys[key], **{"Idempotency-Key": idem})
    return api.client.post(f"/v1/assignments/{assignment_id}/close", headers=headers)


def test_no_sweep_after_the_close(api: EscrowApi) -> None:
    assignment = _assign(api)
    _release(api)  # half of 9,750 swept
    response = _close(api, assignment["id"])
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["swept_minor"]) == ("closed", 4_875)
    _release(api)
    assert [e["payload"]["amount_minor"] for e in api.events("assignment.swept")] == [4_875]
    balances = api.balances()
    assert balances["lender_receivable:lender-1:KES"] == -4_875
    assert balances["seller_payable:seller-1:KES"] == -(2 * 9_750 - 4_875)
    after = api.get(f"/v1/assignments/{assignment['id']}", key="auditor")
    assert (after["status"], after["swept_minor"]) == ("closed", 4_875)
    assert api.verify()["ok"]


def test_closing_twice_replays_on_the_same_key_and_is_409_on_another(api: EscrowApi) -> None:
    assignment = _assign(api)
    first = _close(api, assignment["id"])
    again = _close(api, assignment["id"])
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    other = is_problem(_close(api, assignment["id"], key="admin", idem="close-2"), 409)
    assert (other["current_state"], other["allowed_actions"]) == ("closed", [])
    assert [e["payload"]["assignment_id"] for e in api.events("assignment.closed")] == [assignment["id"]]


def test_the_close_is_audited_and_frees_the_share(api: EscrowApi, ctx: ServiceContext) -> None:
    assignment = _assign(api, share_bps=10_000)
    assert _close(api, assignment["id"], key="admin").status_code == 200
    entries = api.get("/v1/audit/entries", key="auditor")["entries"]
    closed = [e for e in entries if e["action"] == "assignment.closed"]
    assert len(closed) == 1 and closed[0]["subject"] == f"assignment:{assignment['id']}"
    assert closed[0]["payload"]["previous_status"] == "active"
    assert closed[0]["actor"].startswith("admin:")  # the admin key that closed it
    _assign(api, share_bps=10_000)  # the closed one's 10,000 bps no longer count


def test_a_repaid_assignment_can_be_closed(api: EscrowApi) -> None:
    assignment = _assign(api, cap_minor=1_000)
    _release(api)
    assert api.get(f"/v1/assignments/{assignment['id']}", key="service")["status"] == "repaid"
    assert _close(api, assignment["id"]).json()["status"] == "closed"


def test_only_admins_and_loans_close_and_an_unknown_one_is_404(api: EscrowApi) -> None:
    assignment = _assign(api)
    for key in ("market", "auditor", "officer"):
        is_problem(_close(api, assignment["id"], key=key, idem=f"close-{key}"), 403)
    is_problem(_close(api, "no-such-assignment"), 404)
    assert api.get(f"/v1/assignments/{assignment['id']}", key="service")["status"] == "active"
