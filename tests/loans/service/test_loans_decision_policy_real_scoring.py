"""The decision policy on the real scoring service's answer (in process, over its HTTP API): the
score it returns decides the application at the policy's thresholds, exactly at the edge."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient

from services.loans.app import create_app as create_loans_app
from services.loans.settings import LoansContext
from services.scoring import bootstrap as scoring_bootstrap
from services.scoring.app import create_app as create_scoring_app
from shared.auth import Role
from shared.clients.scoring import ScoringClient
from shared.platform import ServiceContext
from tests.loans.kit import LoansApi
from tests.support import auth, issue_key


@pytest.fixture
def world(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> Iterator[tuple[LoansApi, dict[str, Any]]]:
    scoring_ctx = make_ctx("scoring")
    scoring_ctx.settings = scoring_ctx.settings.model_copy(update={"bootstrap_rows": 3_000})
    scoring_bootstrap.bootstrap(scoring_ctx)
    scoring_app = client_for(create_scoring_app(scoring_ctx))
    example = scoring_app.get("/v1/segments/farmer", headers=auth(issue_key(scoring_ctx, Role.LOAN_OFFICER)))
    assert example.status_code == 200, example.text

    def forward(request: httpx.Request) -> httpx.Response:
        answer = scoring_app.request(
            request.method,
            request.url.raw_path.decode("ascii"),
            content=request.content,
            headers=request.headers,
        )
        return httpx.Response(answer.status_code, content=answer.content, headers=answer.headers)

    http = httpx.Client(base_url="http://scoring.test", transport=httpx.MockTransport(forward))
    scoring = ScoringClient(http, api_key=issue_key(scoring_ctx, Role.SERVICE, "loans"), attempts=1)
    ctx = cast(LoansContext, make_ctx("loans"))
    client = client_for(create_loans_app(ctx, scoring_client=scoring), raise_server_exceptions=True)
    keys = {
        "officer": issue_key(ctx, Role.LOAN_OFFICER),
        "manager": issue_key(ctx, Role.CREDIT_MANAGER),
        "auditor": issue_key(ctx, Role.AUDITOR),
    }
    with http:
        yield LoansApi(client, keys), dict(example.json()["example"])


def test_the_real_score_at_the_threshold_approves_and_just_under_it_waits(
    world: tuple[LoansApi, dict[str, Any]],
) -> None:
    api, features = world
    product, borrower = api.product(), api.borrower()
    unset = api.apply(product["id"], borrower["id"], features=features)
    assert unset["status"] == "scored" and unset["policy_decision"] is None
    score = Decimal(unset["score"]["score"])
    policy = {
        "auto_approve_min_score": str(score + Decimal("0.01")),
        "auto_approve_max_principal_minor": 5_000_000,
        "auto_decline_below_score": str(score),
    }
    path = f"/v1/products/{product['id']}/decision-policy"
    api.post(path, policy, as_="manager", expect=201)
    waits = api.apply(product["id"], borrower["id"], features=features)
    assert Decimal(waits["score"]["score"]) == score
    assert (waits["status"], waits["policy_decision"]["outcome"]) == ("scored", "review")
    api.post(path, {**policy, "auto_approve_min_score": str(score)}, as_="manager", expect=201)
    approved = api.apply(product["id"], borrower["id"], features=features)
    assert approved["status"] == "approved" and approved["policy_decision"]["version"] == 2
    assert approved["decision"]["by"] == f"policy:{product['id']}:v2"
    api.post(
        path, {**policy, "auto_decline_below_score": str(score + Decimal("0.01"))}, as_="manager", expect=201
    )
    declined = api.apply(product["id"], borrower["id"], features=features)
    assert declined["status"] == "rejected"
    assert [r["code"] for r in declined["adverse_action_reasons"]] == [
        r["code"] for r in declined["score"]["reasons"]
    ]
