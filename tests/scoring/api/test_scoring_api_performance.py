"""GET /v1/monitoring/performance: the figures on seeded decisions and delivered outcomes are
the domain's; the filters narrow; who may read it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.scoring.domain.performance import ScoredLoan, performance_report
from services.scoring.domain.synthetic import generate
from services.scoring.models import Decision
from services.scoring.settings import ScoringContext
from shared.auth import Role
from tests.factories.scoring import frame_to_requests
from tests.scoring.api.test_scoring_api_outcomes import SECRET, deliver
from tests.scoring.kit import post_score
from tests.support import assert_problem

Headers = Callable[[Role], dict[str, str]]
ROWS = 24


def _seed(client: TestClient, headers: Headers, ctx: ScoringContext) -> tuple[list[dict[str, Any]], date]:
    """ROWS farmer decisions in two monitoring groups; most get outcomes, some default."""
    ctx.settings.loans_webhook_secret = SECRET
    officer = headers(Role.LOAN_OFFICER)
    scored = []
    for i, body in enumerate(frame_to_requests(generate("farmer", ROWS, 41), "farmer")):
        body["monitoring"] = {"group": "north" if i % 2 else "south"}
        scored.append(post_score(client, officer, body))
    today = ctx.clock.now().date()
    for i, score in enumerate(scored):
        if i % 6 == 5:
            continue  # never disbursed: counts towards approvals only
        disbursed = today + timedelta(days=30 * (i % 4))
        events = [("repaid", disbursed + timedelta(days=200))]
        if i % 3 == 0:
            events = [("dpd30", disbursed + timedelta(days=40)), ("dpd90", disbursed + timedelta(days=100))]
        if i % 8 == 1:
            events = [
                ("dpd90", disbursed + timedelta(days=90)),
                ("written_off", disbursed + timedelta(days=150)),
            ]
        for kind, on in reversed(events):  # out of order on purpose
            data = {
                "loan_id": f"loan-{i}",
                "score_id": score["id"],
                "outcome": kind,
                "occurred_on": on.isoformat(),
                "disbursed_on": disbursed.isoformat(),
            }
            response = deliver(client, ctx, f"ev-{i}-{kind}", data)
            assert response.status_code == 200 and response.json()["result"] == "recorded", response.text
    return scored, today


def _expected(ctx: ScoringContext, scored: list[dict[str, Any]], today: date, as_of: date) -> dict[str, Any]:
    """The domain's report on the same facts, built from what the test delivered."""
    with ctx.db.unit_of_work(read_only=True) as session:
        rows = {d.id: d for d in session.scalars(select(Decision))}
    loans = []
    for i, score in enumerate(scored):
        row = rows[score["id"]]
        disbursed = today + timedelta(days=30 * (i % 4))
        outcomes = {"repaid": disbursed + timedelta(days=200)}
        if i % 3 == 0:
            outcomes = {"dpd30": disbursed + timedelta(days=40), "dpd90": disbursed + timedelta(days=100)}
        if i % 8 == 1:
            outcomes = {
                "dpd90": disbursed + timedelta(days=90),
                "written_off": disbursed + timedelta(days=150),
            }
        never = i % 6 == 5
        loans.append(
            ScoredLoan(
                row.id,
                row.grade,
                row.pd,
                row.decision_hint,
                row.monitoring_group,
                None if never else disbursed,
                {} if never else outcomes,
            )
        )
    return performance_report(loans, as_of)


def _get(client: TestClient, headers: Headers, role: Role = Role.AUDITOR, **params: str) -> Any:
    return client.get("/v1/monitoring/performance", params=params, headers=headers(role))


def test_the_report_is_the_domain_computation_on_the_stored_facts(
    client: TestClient, headers: Headers, ctx: ScoringContext
) -> None:
    scored, today = _seed(client, headers, ctx)
    for as_of in (today + timedelta(days=300), today + timedelta(days=500)):
        response = _get(client, headers, segment="farmer", as_of=as_of.isoformat())
        assert response.status_code == 200, response.text
        body = response.json()
        assert body.pop("segment") == "farmer" and body.pop("model_version") is None
        assert body == _expected(ctx, scored, today, as_of)
    late = body
    assert late["decisions"] == ROWS and late["loans"] == 20 and late["matured"] == 20
    assert late["discrimination"]["auc"] is not None and 0.0 <= late["discrimination"]["ks"] <= 1.0
    assert sum(g["matured"] for g in late["grades"]) == 20
    assert late["adverse_impact"]["approvals"]["counts"] == {"north": 12, "south": 12}


def test_filters_and_too_little_data(
    client: TestClient, headers: Headers, ctx: ScoringContext, champions: dict[str, str]
) -> None:
    _, today = _seed(client, headers, ctx)
    as_of = (today + timedelta(days=500)).isoformat()
    by_version = _get(
        client, headers, segment="farmer", model_version=champions["farmer"], as_of=as_of
    ).json()
    assert by_version["model_version"] == champions["farmer"] and by_version["decisions"] == ROWS
    other = _get(client, headers, segment="farmer", model_version="farmer-v999", as_of=as_of).json()
    assert other["decisions"] == 0 and other["note"] == "no outcomes are known yet for these decisions"
    assert other["discrimination"]["auc"] is None and other["adverse_impact"]["outcomes"]["ratio"] is None
    before = _get(client, headers, segment="farmer", as_of=(today - timedelta(days=1)).isoformat()).json()
    assert before["decisions"] == 0  # nothing was scored yet
    empty = _get(client, headers, segment="enterprise").json()
    assert empty["decisions"] == 0 and all(g["default_rate"] is None for g in empty["grades"])
    assert_problem(_get(client, headers, segment="farmer", as_of="soon"), 422)


@pytest.mark.parametrize("role", [Role.CREDIT_MANAGER, Role.AUDITOR, Role.ADMIN])
def test_managers_auditors_and_admins_read_it(client: TestClient, headers: Headers, role: Role) -> None:
    assert _get(client, headers, role, segment="farmer").status_code == 200


@pytest.mark.parametrize("role", [Role.LOAN_OFFICER, Role.MARKETPLACE, Role.SERVICE])
def test_others_may_not(client: TestClient, headers: Headers, role: Role) -> None:
    assert_problem(_get(client, headers, role, segment="farmer"), 403)
    assert_problem(client.get("/v1/monitoring/performance", params={"segment": "farmer"}), 401)
