"""Who may call what: marketplace nothing, auditors read but do not score, keys are public."""

from __future__ import annotations

from collections.abc import Callable

import factory.random
import pytest
from fastapi.testclient import TestClient

from shared.auth import Role
from tests.factories.scoring import ScoreRequestFactory
from tests.scoring.kit import post_score
from tests.support import assert_problem as problem

Headers = Callable[[Role], dict[str, str]]


@pytest.fixture
def score_id(client: TestClient, headers: Headers) -> str:
    factory.random.reseed_random("access")
    return str(post_score(client, headers(Role.LOAN_OFFICER), ScoreRequestFactory())["id"])


def _calls(score_id: str, version: str) -> list[tuple[str, str]]:
    return [
        ("GET", f"/v1/scores/{score_id}"),
        ("GET", "/v1/scores"),
        ("GET", f"/v1/scores/{score_id}/waterfall.png"),
        ("POST", f"/v1/scores/{score_id}/replay"),
        ("GET", "/v1/models"),
        ("GET", f"/v1/models/{version}"),
        ("GET", f"/v1/models/{version}/card"),
        ("GET", f"/v1/models/{version}/card.md"),
        ("GET", "/v1/segments"),
        ("GET", "/v1/segments/farmer"),
        ("GET", "/v1/monitoring/psi?segment=farmer"),
    ]


def test_marketplace_has_no_access(
    client: TestClient, headers: Headers, score_id: str, champions: dict[str, str]
) -> None:
    market = headers(Role.MARKETPLACE)
    problem(client.post("/v1/scores", json=ScoreRequestFactory(), headers=market), 403)
    problem(client.post("/v1/models/train", json={"segment": "farmer"}, headers=market), 403)
    problem(client.post(f"/v1/models/{champions['farmer']}/promote", headers=market), 403)
    for method, path in _calls(score_id, champions["farmer"]):
        problem(client.request(method, path, headers=market), 403)


def test_auditor_reads_and_replays_but_does_not_score(
    client: TestClient, headers: Headers, score_id: str, champions: dict[str, str]
) -> None:
    auditor = headers(Role.AUDITOR)
    body = problem(client.post("/v1/scores", json=ScoreRequestFactory(), headers=auditor), 403)
    assert body["allowed_roles"] == ["credit_manager", "loan_officer", "service:loans"]
    problem(client.post(f"/v1/models/{champions['farmer']}/promote", headers=auditor), 403)
    for method, path in _calls(score_id, champions["farmer"]):
        assert client.request(method, path, headers=auditor).status_code == 200, path


def test_scorers_and_anonymous_callers(client: TestClient, headers: Headers, score_id: str) -> None:
    for role in (Role.LOAN_OFFICER, Role.CREDIT_MANAGER, Role.SERVICE):
        factory.random.reseed_random(role.value)
        post_score(client, headers(role), ScoreRequestFactory())
    problem(client.post("/v1/scores", json=ScoreRequestFactory(), headers=headers(Role.ADMIN)), 403)
    problem(client.post(f"/v1/scores/{score_id}/replay", headers=headers(Role.LOAN_OFFICER)), 403)
    problem(client.get(f"/v1/scores/{score_id}"), 401)
    problem(client.post("/v1/scores", json=ScoreRequestFactory()), 401)
    assert client.get("/v1/keys").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_segments_publish_an_example_that_scores(client: TestClient, headers: Headers) -> None:
    listed = client.get("/v1/segments", headers=headers(Role.SERVICE)).json()["segments"]
    assert {s["segment"]: s["source"] for s in listed} == {"enterprise": "builtin", "farmer": "builtin"}
    for segment in ("farmer", "enterprise"):
        detail = client.get(f"/v1/segments/{segment}", headers=headers(Role.SERVICE)).json()
        assert detail["segment"] == segment and detail["features"] and detail["champion_version"]
        post_score(
            client,
            headers(Role.SERVICE),
            {"segment": segment, "subject_id": "example", "features": detail["example"]},
        )
