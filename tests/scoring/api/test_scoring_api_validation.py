"""Bad input is a 422 problem naming the field, and nothing is stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.scoring.models import Decision, ShadowScore
from services.scoring.repository.specs import load_segment_spec
from shared.auth import Role
from shared.platform import ServiceContext
from tests.support import assert_problem as problem
from tests.support import count_rows

Headers = Callable[[Role], dict[str, str]]
EXAMPLE: dict[str, Any] = dict(load_segment_spec("farmer").example)


def _without(name: str) -> dict[str, Any]:
    return {k: v for k, v in EXAMPLE.items() if k != name}


CASES = {
    "unknown feature": ({**EXAMPLE, "credit_card_debt": 10}, "features.credit_card_debt", "unknown feature"),
    "wrong type (number)": ({**EXAMPLE, "land_area_ha": "two"}, "features.land_area_ha", "must be a number"),
    "wrong type (boolean)": ({**EXAMPLE, "irrigation": "yes"}, "features.irrigation", "must be a boolean"),
    "wrong type (category)": ({**EXAMPLE, "main_crop": 3}, "features.main_crop", "must be a string"),
    "out of range (below)": ({**EXAMPLE, "years_farming": -1}, "features.years_farming", ">= 0"),
    "out of range (above)": (
        {**EXAMPLE, "on_time_repayment_rate": 1.5},
        "features.on_time_repayment_rate",
        "<= 1",
    ),
    "unknown category": (
        {**EXAMPLE, "land_tenure": "rented_from_moon"},
        "features.land_tenure",
        "unknown category",
    ),
    "missing (absent)": (_without("land_area_ha"), "features.land_area_ha", "missing not allowed"),
    "missing (null)": ({**EXAMPLE, "coop_member": None}, "features.coop_member", "missing not allowed"),
}


def _stored(ctx: ServiceContext) -> tuple[int, int, int, int]:
    tables = (Decision.__table__, ShadowScore.__table__, ctx.tables.audit_log, ctx.tables.outbox)
    decisions, shadows, audit, outbox = (count_rows(ctx, table) for table in tables)
    return decisions, shadows, audit, outbox


@pytest.mark.parametrize("case", list(CASES))
def test_each_validation_error_names_the_field_and_stores_nothing(
    client: TestClient, ctx: ServiceContext, headers: Headers, case: str
) -> None:
    features, field, message = CASES[case]
    before = _stored(ctx)
    response = client.post(
        "/v1/scores",
        json={"segment": "farmer", "subject_id": "s", "features": features},
        headers=headers(Role.LOAN_OFFICER),
    )
    body = problem(response, 422)
    assert body["errors"] == [{"field": field, "message": body["errors"][0]["message"]}]
    assert message in body["errors"][0]["message"] and field in body["detail"]
    assert _stored(ctx) == before


def test_every_problem_is_listed_at_once(client: TestClient, ctx: ServiceContext, headers: Headers) -> None:
    features = {**_without("main_crop"), "land_area_ha": -3, "irrigation": 1, "nonsense": True}
    request = {"segment": "farmer", "subject_id": "s", "features": features}
    body = problem(client.post("/v1/scores", json=request, headers=headers(Role.LOAN_OFFICER)), 422)
    assert {e["field"] for e in body["errors"]} == {
        "features.nonsense",
        "features.land_area_ha",
        "features.irrigation",
        "features.main_crop",
    }
    assert count_rows(ctx, Decision.__table__) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"subject_id": "s", "features": EXAMPLE}, "segment"),
        ({"segment": "farmer", "features": EXAMPLE}, "subject_id"),
        ({"segment": "farmer", "subject_id": "s"}, "features"),
        ({"segment": "farmer", "subject_id": "s", "features": EXAMPLE, "group": "x"}, "group"),
        (
            {"segment": "farmer", "subject_id": "s", "features": EXAMPLE, "monitoring": {"group": ""}},
            "monitoring.group",
        ),
    ],
)
def test_malformed_requests_name_the_field(
    client: TestClient, ctx: ServiceContext, headers: Headers, body: dict[str, Any], field: str
) -> None:
    problem_body = problem(client.post("/v1/scores", json=body, headers=headers(Role.LOAN_OFFICER)), 422)
    assert problem_body["errors"][0]["field"] == field
    assert count_rows(ctx, Decision.__table__) == 0


def test_unknown_segment_is_404_and_stores_nothing(
    client: TestClient, ctx: ServiceContext, headers: Headers
) -> None:
    before = _stored(ctx)
    request = {"segment": "fishermen", "subject_id": "s", "features": EXAMPLE}
    response = client.post("/v1/scores", json=request, headers=headers(Role.LOAN_OFFICER))
    assert "fishermen" in problem(response, 404)["detail"]
    assert _stored(ctx) == before
    assert client.get("/v1/segments/fishermen", headers=headers(Role.LOAN_OFFICER)).status_code == 404
    assert client.get("/v1/segments/Bad.Name", headers=headers(Role.LOAN_OFFICER)).status_code == 404
