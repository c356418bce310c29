"""The review queue's listings: applications filtered by product, score hint, grade, status and
submission time, oldest or newest first; borrowers fetched by id, a page at a time."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest

from shared.clock import ManualClock
from tests.loans.kit import LoansApi
from tests.support import assert_problem

REVIEW = {"land_area_ha": "1.5", "years_farming": 3}
DECLINE = {"land_area_ha": "0.4", "years_farming": 1}


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [r["id"] for r in rows]


@pytest.fixture
def queue(api: LoansApi, clock: ManualClock) -> dict[str, Any]:
    """Four applications an hour apart: approve/B, review/C, decline/E (another product), and
    approve/B withdrawn; ``t0`` is when the first was submitted."""
    maize, beans = api.product(), api.product()
    borrowers = [api.borrower() for _ in range(3)]
    t0 = clock.now()
    first = api.apply(maize["id"], borrowers[0]["id"])
    clock.advance(timedelta(hours=1))
    second = api.apply(maize["id"], borrowers[1]["id"], features=REVIEW)
    clock.advance(timedelta(hours=1))
    third = api.apply(beans["id"], borrowers[2]["id"], features=DECLINE)
    clock.advance(timedelta(hours=1))
    fourth = api.apply(maize["id"], borrowers[0]["id"])
    api.post(f"/v1/applications/{fourth['id']}/withdraw", as_="officer")
    return {
        "maize": maize["id"],
        "beans": beans["id"],
        "t0": t0,
        "apps": [a["id"] for a in (first, second, third, fourth)],
    }


def test_the_queue_filters_by_status_product_hint_and_grade(api: LoansApi, queue: dict[str, Any]) -> None:
    a1, a2, a3, a4 = queue["apps"]

    def listed(**params: Any) -> list[str]:
        return ids(api.get("/v1/applications", **params))

    assert listed() == [a4, a3, a2, a1]
    assert listed(order="newest") == [a4, a3, a2, a1]
    assert listed(order="oldest") == [a1, a2, a3, a4]
    assert listed(status="scored", order="oldest") == [a1, a2, a3]
    assert listed(product_id=queue["maize"]) == [a4, a2, a1]
    assert listed(product_id=queue["beans"]) == [a3]
    assert listed(decision_hint="review") == [a2]
    assert listed(decision_hint="decline") == [a3]
    assert listed(decision_hint="approve", order="oldest") == [a1, a4]
    assert listed(grade="B") == [a4, a1]
    assert listed(grade="E") == [a3]
    assert listed(grade="A") == []
    assert listed(status="scored", product_id=queue["maize"], decision_hint="approve") == [a1]
    assert listed(status="scored", order="oldest", limit=2, offset=1) == [a2, a3]
    rows = api.get("/v1/applications", decision_hint="review")
    assert rows[0]["score"]["decision_hint"] == "review" and rows[0]["score"]["grade"] == "C"


def test_the_queue_filters_by_submission_time_from_inclusive_to_exclusive(
    api: LoansApi, queue: dict[str, Any]
) -> None:
    a1, a2, a3, a4 = queue["apps"]
    t0 = queue["t0"]

    def listed(**params: Any) -> list[str]:
        return ids(api.get("/v1/applications", order="oldest", **params))

    hour = timedelta(hours=1)
    assert listed(submitted_from=(t0 + hour).isoformat()) == [a2, a3, a4]
    assert listed(submitted_to=(t0 + 2 * hour).isoformat()) == [a1, a2]
    assert listed(submitted_from=(t0 + hour).isoformat(), submitted_to=(t0 + 2 * hour).isoformat()) == [a2]
    assert listed(submitted_from=(t0 + 4 * hour).isoformat()) == []
    # The same instant written with another offset, and without one (UTC), selects the same.
    nairobi = (t0 + hour).astimezone(timezone(timedelta(hours=3)))
    assert nairobi.isoformat().endswith("+03:00")
    assert listed(submitted_from=nairobi.isoformat()) == [a2, a3, a4]
    assert listed(submitted_from=(t0 + hour).replace(tzinfo=None).isoformat()) == [a2, a3, a4]
    assert listed(status="scored", submitted_from=(t0 + hour).isoformat()) == [a2, a3]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"decision_hint": "maybe"}, "query.decision_hint"),
        ({"order": "sideways"}, "query.order"),
        ({"grade": ""}, "query.grade"),
        ({"submitted_from": "yesterday"}, "query.submitted_from"),
        ({"submitted_to": "2026-13-01T00:00:00Z"}, "query.submitted_to"),
        (
            {"submitted_from": "2026-03-02T10:00:00Z", "submitted_to": "2026-03-02T10:00:00Z"},
            "query.submitted_to",
        ),
        ({"product_id": "p" * 37}, "query.product_id"),
        ({"submitted_from": "9999-12-31T23:59:59-23:00"}, "query.submitted_from"),
        ({"submitted_to": "0001-01-01T00:00:00+23:00"}, "query.submitted_to"),
    ],
)
def test_malformed_queue_filters_are_422_problems_naming_the_parameter(
    api: LoansApi, params: dict[str, str], field: str
) -> None:
    response = api.call("GET", "/v1/applications", as_="officer", params=params)
    problem = assert_problem(response, 422)
    assert [e["field"] for e in problem["errors"]] == [field]


def test_borrowers_by_ids_come_in_the_order_asked(api: LoansApi) -> None:
    b1, b2, b3 = (api.borrower() for _ in range(3))
    found = api.get("/v1/borrowers", as_="officer", ids=f"{b3['id']},{b1['id']}")
    assert ids(found) == [b3["id"], b1["id"]]
    assert found[0]["name"] == b3["name"] and found[1]["national_id"] == b1["national_id"]
    # Unknown ids are left out, a repeated one comes once, spaces around ids are ignored,
    # and limit/offset (which page the unfiltered list) do not cut the answer.
    asked = f" {b2['id']} ,nope,{b2['id']},{b1['id']},{b3['id']}"
    assert ids(api.get("/v1/borrowers", ids=asked, limit=1, offset=1)) == [b2["id"], b1["id"], b3["id"]]
    assert api.get("/v1/borrowers", ids="nope") == []
    assert len(api.get("/v1/borrowers", limit=2)) == 2  # without ids, limit pages as before


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"ids": ",".join(f"b-{i}" for i in range(101))}, "at most 100"),
        ({"ids": "a,,b"}, "none empty"),
        ({"ids": "a,"}, "none empty"),
        ({"ids": "x" * 37}, "at most 36 characters"),
        ({"ids": "a", "national_id": "KE-1"}, "not both"),
    ],
)
def test_malformed_borrower_ids_are_422_problems(api: LoansApi, params: dict[str, str], message: str) -> None:
    problem = assert_problem(api.call("GET", "/v1/borrowers", as_="officer", params=params), 422)
    assert problem["errors"][0]["field"] == "query.ids" and message in problem["detail"]


def test_a_hundred_ids_are_one_call(api: LoansApi) -> None:
    borrower = api.borrower()
    asked = [borrower["id"], *(f"missing-{i}" for i in range(99))]
    assert ids(api.get("/v1/borrowers", ids=",".join(asked))) == [borrower["id"]]


def test_who_may_list_the_queue_and_its_borrowers(api: LoansApi) -> None:
    borrower = api.borrower()
    for name in ("officer", "manager", "auditor", "admin"):
        assert ids(api.get("/v1/borrowers", as_=name, ids=borrower["id"])) == [borrower["id"]]
        api.get("/v1/applications", as_=name, order="oldest", status="scored")
    for name in ("marketplace", "service"):
        response = api.call("GET", "/v1/borrowers", as_=name, params={"ids": borrower["id"]})
        assert_problem(response, 403)
