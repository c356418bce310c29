"""Loans calling the real scoring service over HTTP (uvicorn on a free 127.0.0.1 port).

Scoring runs as ``tests.integration.http_system.ServiceServer``; loans is in process with a
ScoringClient over that port. A scored application end to end (features from scoring's own
``GET /v1/segments/farmer`` example), and an outage: scoring stopped → the application waits
``pending_score`` → scoring restarted → the retry job scores it with the same Idempotency-Key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.loans.app import create_app as create_loans_app
from services.loans.service.scoring import ScoringClient
from services.loans.service.scoring_retry import retry_pending_scores
from services.scoring.app import create_app as create_scoring_app
from shared.auth import Role
from shared.clock import ManualClock
from shared.platform import ServiceContext
from tests.integration.http_system import ServiceServer, bootstrap_scoring
from tests.support import auth, issue_key


@pytest.fixture
def scoring_ctx(make_ctx: Callable[[str], ServiceContext]) -> ServiceContext:
    ctx = make_ctx("scoring")
    bootstrap_scoring(ctx)
    return ctx


@pytest.fixture
def server(scoring_ctx: ServiceContext) -> Iterator[ServiceServer]:
    running = ServiceServer(create_scoring_app(scoring_ctx))
    running.start()
    yield running
    running.close()


@pytest.fixture
def scoring_client(server: ServiceServer, scoring_ctx: ServiceContext) -> Iterator[ScoringClient]:
    http = httpx.Client(base_url=server.url, timeout=httpx.Timeout(10.0, connect=1.0))
    yield ScoringClient(
        http, api_key=issue_key(scoring_ctx, Role.SERVICE, "loans"), attempts=2, max_backoff=0.05
    )
    http.close()


@pytest.fixture
def loans(
    make_ctx: Callable[[str], ServiceContext],
    scoring_client: ScoringClient,
    client_for: Callable[..., TestClient],
) -> tuple[ServiceContext, TestClient, dict[str, str]]:
    ctx = make_ctx("loans")
    client = client_for(create_loans_app(ctx, scoring_client=scoring_client))
    keys = {"officer": issue_key(ctx, Role.LOAN_OFFICER), "manager": issue_key(ctx, Role.CREDIT_MANAGER)}
    return ctx, client, keys


def _example_features(server: ServiceServer, scoring_ctx: ServiceContext) -> dict[str, Any]:
    key = issue_key(scoring_ctx, Role.LOAN_OFFICER)
    response = httpx.get(f"{server.url}/v1/segments/farmer", headers=auth(key), timeout=10)
    assert response.status_code == 200, response.text
    example: dict[str, Any] = response.json()["example"]
    return example


def _submit(client: TestClient, keys: dict[str, str], features: dict[str, Any]) -> dict[str, Any]:
    product = client.post(
        "/v1/products",
        headers=auth(keys["manager"]),
        json={
            "name": "maize",
            "currency": "KES",
            "min_principal_minor": 100_000,
            "max_principal_minor": 5_000_000,
            "max_repayments": 12,
        },
    )
    assert product.status_code == 201, product.text
    borrower = client.post(
        "/v1/borrowers",
        headers=auth(keys["officer"]),
        json={"type": "farmer", "name": "Grace Akinyi", "national_id": "KE-55501", "region": "Kisumu"},
    )
    assert borrower.status_code == 201, borrower.text
    response = client.post(
        "/v1/applications",
        headers=auth(keys["officer"]),
        json={
            "product_id": product.json()["id"],
            "borrower_id": borrower.json()["id"],
            "principal_minor": 800_000,
            "annual_interest_rate": "18",
            "number_of_repayments": 6,
            "disbursement_date": "2026-03-01",
            "features": features,
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_scored_application_end_to_end(
    server: ServiceServer,
    scoring_ctx: ServiceContext,
    loans: tuple[ServiceContext, TestClient, dict[str, str]],
) -> None:
    _, client, keys = loans
    application = _submit(client, keys, _example_features(server, scoring_ctx))
    assert application["status"] == "scored"
    score = application["score"]
    assert score["decision_hint"] in {"approve", "review", "decline"} and score["grade"]
    assert 0 < float(score["pd"]) < 1 and score["model_version"]
    assert all(r["code"] and r["text"] for r in score["reasons"])
    stored = httpx.get(
        f"{server.url}/v1/scores/{score['id']}",
        headers=auth(issue_key(scoring_ctx, Role.AUDITOR)),
        timeout=10,
    )
    assert stored.status_code == 200 and stored.json()["subject_id"] == application["borrower_id"]
    bad = client.post(
        "/v1/applications",
        headers=auth(keys["officer"]),
        json={
            **{
                k: application[k]
                for k in (
                    "product_id",
                    "borrower_id",
                    "principal_minor",
                    "annual_interest_rate",
                    "number_of_repayments",
                    "disbursement_date",
                )
            },
            "features": {"land_area_ha": -5},
        },
    )
    assert bad.status_code == 422 and any(e["field"].startswith("features") for e in bad.json()["errors"])


def test_outage_then_the_retry_job_scores_the_application(
    server: ServiceServer,
    scoring_ctx: ServiceContext,
    scoring_client: ScoringClient,
    loans: tuple[ServiceContext, TestClient, dict[str, str]],
    clock: ManualClock,
) -> None:
    ctx, client, keys = loans
    features = _example_features(server, scoring_ctx)
    server.stop()
    application = _submit(client, keys, features)
    assert application["status"] == "pending_score"
    assert client.get("/readyz").json()["status"] == "ready"  # scoring down never makes loans unready
    server.start()
    clock.advance(timedelta(minutes=5))
    report = retry_pending_scores(ctx, scoring_client)
    assert (report.attempted, report.scored) == (1, 1)
    scored = client.get(f"/v1/applications/{application['id']}", headers=auth(keys["manager"])).json()
    assert scored["status"] == "scored" and scored["score"]["id"]
    approved = client.post(
        f"/v1/applications/{application['id']}/approve",
        headers=auth(keys["manager"]),
        json={"note": "integration"},
    )
    assert approved.status_code == 201, approved.text
