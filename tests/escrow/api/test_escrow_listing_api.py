"""GET /v1/escrows for the console's marketplace pages: pages, time windows, owner scoping.

A marketplace key, and a person the console acts for as that marketplace's operator
(``Agrifin-Acting-Role: marketplace`` + ``Agrifin-Acting-Owner``), see only that
marketplace's escrows; auditors and admins see every marketplace's.
"""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest

from shared.auth import ACTING_OWNER_HEADER, ACTING_PERSON_HEADER, ACTING_ROLE_HEADER, Role
from shared.clock import ManualClock
from tests.escrow.kit import EscrowApi
from tests.factories.escrow import T0, EscrowPayloadFactory, at
from tests.support import assert_problem, auth, issue_key


def _ids(answer: dict[str, Any]) -> list[str]:
    return [e["id"] for e in answer["escrows"]]


@pytest.fixture
def hourly(api: EscrowApi, clock: ManualClock) -> list[dict[str, Any]]:
    """Four escrows an hour apart from T0: shop-1, shop-2, shop-1 (seller-2), shop-2."""
    made = []
    for i, (key, seller) in enumerate(
        [("market", "seller-1"), ("market2", "seller-1"), ("market", "seller-2"), ("market2", "seller-1")]
    ):
        made.append(api.create(key=key, seller_id=seller, order_ref=f"ORD-H{i}"))
        clock.advance(timedelta(hours=1))
    return made


def test_listing_pages_newest_first_with_the_summary_fields(
    api: EscrowApi, hourly: list[dict[str, Any]]
) -> None:
    newest_first = [e["id"] for e in reversed(hourly)]
    assert _ids(api.get("/v1/escrows", key="auditor")) == newest_first
    pages = [_ids(api.get(f"/v1/escrows?limit=3&offset={o}", key="admin")) for o in (0, 3, 6)]
    assert pages == [newest_first[:3], newest_first[3:], []]
    summary = api.get("/v1/escrows?limit=1", key="auditor")["escrows"][0]
    assert summary == {
        "id": hourly[3]["id"],
        "marketplace": "shop-2",
        "order_ref": "ORD-H3",
        "buyer_id": hourly[3]["buyer_id"],
        "seller_id": "seller-1",
        "status": "created",
        "currency": "KES",
        "total_minor": 100_000,
        "created_at": at(hours=3),
        "updated_at": at(hours=3),
        "closed_at": None,
    }


def test_a_time_window_keeps_from_inclusive_to_exclusive_in_any_offset(
    api: EscrowApi, hourly: list[dict[str, Any]]
) -> None:
    window = f"created_from={at(hours=1)}&created_to={at(hours=3)}"
    assert _ids(api.get(f"/v1/escrows?{window}", key="auditor")) == [hourly[2]["id"], hourly[1]["id"]]
    # An instant written in East Africa Time (+03:00) is the same instant: 14:00+03:00 is T0 + 3 h.
    eat = (T0 + timedelta(hours=3)).astimezone(timezone(timedelta(hours=3))).isoformat()
    assert eat == "2026-03-02T14:00:00+03:00"
    listed = api.client.get("/v1/escrows", params={"created_from": eat}, headers=auth(api.keys["auditor"]))
    assert _ids(listed.json()) == [hourly[3]["id"]]
    assert _ids(api.get(f"/v1/escrows?created_to={at(hours=1)}", key="auditor")) == [hourly[0]["id"]]


def test_a_window_must_be_aware_and_forward(api: EscrowApi) -> None:
    auditor = auth(api.keys["auditor"])
    naive = api.client.get("/v1/escrows", params={"created_from": "2026-03-02T08:00:00"}, headers=auditor)
    assert [e["field"] for e in assert_problem(naive, 422)["errors"]] == ["query.created_from"]
    backwards = api.client.get(
        "/v1/escrows", params={"created_from": at(hours=2), "created_to": at(hours=1)}, headers=auditor
    )
    assert [e["field"] for e in assert_problem(backwards, 422)["errors"]] == ["query.created_to"]
    assert_problem(api.client.get("/v1/escrows", params={"offset": -1}, headers=auditor), 422)


def test_marketplace_keys_list_their_own_escrows_only(api: EscrowApi, hourly: list[dict[str, Any]]) -> None:
    assert _ids(api.get("/v1/escrows")) == [hourly[2]["id"], hourly[0]["id"]]
    assert _ids(api.get("/v1/escrows", key="market2")) == [hourly[3]["id"], hourly[1]["id"]]
    assert _ids(api.get("/v1/escrows?seller_id=seller-1")) == [hourly[0]["id"]]
    assert _ids(api.get("/v1/escrows?seller_id=seller-1", key="auditor")) == [
        hourly[3]["id"],
        hourly[1]["id"],
        hourly[0]["id"],
    ]
    assert _ids(api.get(f"/v1/escrows?created_from={at(hours=1)}&limit=1")) == [hourly[2]["id"]]


def _console(api: EscrowApi, role: Role, owner: str | None = None) -> dict[str, str]:
    console = issue_key(api.ctx, Role.SERVICE, owner="console")
    acting = {ACTING_PERSON_HEADER: "wanjiru", ACTING_ROLE_HEADER: role.value}
    if owner is not None:
        acting[ACTING_OWNER_HEADER] = owner
    return auth(console, **acting)


def test_a_person_acting_as_a_marketplace_is_scoped_like_its_key(
    api: EscrowApi, hourly: list[dict[str, Any]]
) -> None:
    operator = _console(api, Role.MARKETPLACE, "shop-1")
    listed = api.client.get("/v1/escrows", headers=operator)
    assert listed.status_code == 200 and _ids(listed.json()) == [hourly[2]["id"], hourly[0]["id"]]
    mine = api.client.get(f"/v1/escrows/{hourly[0]['id']}", headers=operator)
    assert mine.status_code == 200 and mine.json()["marketplace"] == "shop-1"
    for path in (f"/v1/escrows/{hourly[1]['id']}", f"/v1/escrows/{hourly[1]['id']}/entries"):
        assert_problem(api.client.get(path, headers=operator), 404)
    # What the operator does is theirs on their own marketplace, and named after the person.
    opened = api.client.post(
        "/v1/escrows",
        json=EscrowPayloadFactory(order_ref="ORD-CONSOLE"),
        headers={**operator, "Idempotency-Key": "console-1"},
    )
    assert opened.status_code == 201, opened.text
    assert opened.json()["marketplace"] == "shop-1"
    assert opened.json()["timeline"][0]["actor"].startswith("person:wanjiru:marketplace:via:")


def test_a_person_acting_as_an_auditor_lists_every_marketplace(
    api: EscrowApi, hourly: list[dict[str, Any]]
) -> None:
    listed = api.client.get("/v1/escrows", headers=_console(api, Role.AUDITOR))
    assert listed.status_code == 200 and _ids(listed.json()) == [e["id"] for e in reversed(hourly)]
    # A loan officer has no business with escrows, through the console or not.
    assert_problem(api.client.get("/v1/escrows", headers=_console(api, Role.LOAN_OFFICER)), 403)
