"""Who may do what (roles, owner scoping) and 422s that name the offending field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.escrow.kit import EscrowApi
from tests.factories.escrow import EscrowPayloadFactory
from tests.support import assert_problem as is_problem
from tests.support import auth


def _create(api: EscrowApi, key: str = "market", **overrides: Any) -> Any:
    return api.client.post("/v1/escrows", json=EscrowPayloadFactory(**overrides), headers=auth(api.keys[key]))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "kes"}, "currency"),
        ({"lots": [{"lot_ref": "A", "amount_minor": 0}]}, "lots.0.amount_minor"),
        ({"lots": [{"lot_ref": "A", "amount_minor": -5}]}, "lots.0.amount_minor"),
        ({"lots": [{"lot_ref": "A", "amount_minor": 12.5}]}, "lots.0.amount_minor"),
        ({"lots": [{"lot_ref": "A", "amount_minor": 1}, {"lot_ref": "A", "amount_minor": 2}]}, "lots"),
        ({"lots": []}, "lots"),
        ({"fee": {"bps": 10_001}}, "fee.bps"),
        ({"inspection_period_hours": 0}, "inspection_period_hours"),
        ({"funding_deadline": "2026-03-01T08:00:00Z"}, "funding_deadline"),
        ({"delivery_deadline": "2026-03-04T08:00:00"}, "delivery_deadline"),
        ({"seller_id": "buyer-x", "buyer_id": "buyer-x"}, "seller_id"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_escrow_is_422_naming_the_field(
    api: EscrowApi, overrides: dict[str, Any], field: str
) -> None:
    body = is_problem(_create(api, **overrides), 422)
    assert field in [e["field"] for e in body["errors"]], body
    assert api.get("/v1/escrows")["escrows"] == []


def test_duplicate_order_ref_is_409_per_marketplace(api: EscrowApi) -> None:
    api.create(order_ref="ORD-9")
    body = is_problem(_create(api, order_ref="ORD-9"), 409)
    assert body["current_state"] == "exists" and body["order_ref"] == "ORD-9"
    # Another marketplace may use the same order reference.
    assert _create(api, key="market2", order_ref="ORD-9").status_code == 201


def test_marketplace_sees_and_acts_only_on_its_own_escrows(api: EscrowApi) -> None:
    eid = api.create(order_ref="ORD-1")["id"]
    other = auth(api.keys["market2"])
    for method, path in [
        ("GET", f"/v1/escrows/{eid}"),
        ("GET", f"/v1/escrows/{eid}/entries"),
        ("POST", f"/v1/escrows/{eid}/fund"),
        ("POST", f"/v1/escrows/{eid}/cancel"),
    ]:
        is_problem(api.client.request(method, path, headers=other), 404)
    assert api.get("/v1/escrows?order_ref=ORD-1", key="market2")["escrows"] == []
    mine = api.get("/v1/escrows?order_ref=ORD-1")["escrows"]
    assert [e["id"] for e in mine] == [eid] and mine[0]["marketplace"] == "shop-1"
    # Admins and auditors see every marketplace's escrows.
    assert api.escrow(eid, key="admin")["marketplace"] == "shop-1"
    assert api.escrow(eid, key="auditor")["id"] == eid


def test_admin_opens_escrows_for_a_named_marketplace_or_as_admin(api: EscrowApi) -> None:
    named = api.create(key="admin", marketplace="shop-2")
    assert named["marketplace"] == "shop-2"
    assert api.escrow(named["id"], key="market2")["id"] == named["id"]
    assert api.create(key="admin")["marketplace"] == "admin"
    body = is_problem(_create(api, marketplace="shop-2"), 422)
    assert body["errors"][0]["field"] == "marketplace"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/v1/escrows", ["admin", "marketplace"]),
        ("GET", "/v1/escrows", ["admin", "auditor", "marketplace"]),
        ("GET", "/v1/ledger/trial-balance", ["admin", "auditor"]),
        ("GET", "/v1/ledger/verify", ["admin", "auditor"]),
        ("POST", "/v1/payouts", ["admin"]),
        ("POST", "/v1/assignments", ["admin", "service:loans"]),
        ("POST", "/v1/sandbox/payments/x/confirm", ["admin"]),
    ],
)
def test_roles_are_denied_by_default(api: EscrowApi, method: str, path: str, allowed: list[str]) -> None:
    body = is_problem(api.client.request(method, path, json={}, headers=auth(api.keys["officer"])), 403)
    assert body["allowed_roles"] == allowed
    is_problem(api.client.request(method, path, json={}), 401)


def test_marketplace_cannot_read_the_ledger_or_pay_out(api: EscrowApi) -> None:
    market = auth(api.keys["market"])
    is_problem(api.client.get("/v1/ledger/trial-balance", headers=market), 403)
    payout = {"seller_id": "s", "currency": "KES"}
    is_problem(api.client.post("/v1/payouts", json=payout, headers=market), 403)
    is_problem(
        api.client.post("/v1/escrows", json=EscrowPayloadFactory(), headers=auth(api.keys["auditor"])), 403
    )


def test_payout_and_assignment_bodies_are_validated(api: EscrowApi) -> None:
    admin = auth(api.keys["admin"])
    body = is_problem(api.client.post("/v1/payouts", json={"currency": "KES"}, headers=admin), 422)
    assert "exactly one of seller_id" in body["detail"]
    body = is_problem(
        api.client.post(
            "/v1/payouts", json={"seller_id": "s", "currency": "KES", "amount_minor": 0}, headers=admin
        ),
        422,
    )
    assert body["errors"][0]["field"] == "amount_minor"
    body = is_problem(
        api.client.post(
            "/v1/assignments",
            json={
                "seller_id": "s",
                "lender_id": "l",
                "currency": "KES",
                "share_bps": 0,
                "cap_minor": 1,
                "loan_ref": "LN",
            },
            headers=admin,
        ),
        422,
    )
    assert body["errors"][0]["field"] == "share_bps"
