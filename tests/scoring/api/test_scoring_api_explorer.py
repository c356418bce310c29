"""The decision explorer: GET /v1/scores filtered by model, hint, subject, segment and time, newest first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import factory.random
import pytest
from fastapi.testclient import TestClient

from services.scoring.domain.model import TrainedModel
from services.scoring.repository.artifacts import ModelStore
from services.scoring.service.registry import register_model
from services.scoring.settings import ScoringContext
from shared.auth import Role
from shared.clock import ManualClock, utc_iso
from tests.factories.scoring import EnterpriseFeaturesFactory, ScoreRequestFactory
from tests.scoring.kit import post_score
from tests.support import assert_problem as problem

Headers = Callable[[Role], dict[str, str]]


@pytest.fixture
def scored(
    client: TestClient,
    headers: Headers,
    ctx: ScoringContext,
    store: ModelStore,
    trained_models: dict[str, TrainedModel],
    clock: ManualClock,
) -> list[dict[str, Any]]:
    """18 farmer decisions under v1, 4 enterprise ones, then 8 farmer ones under a promoted v2;
    an hour apart, except two farmer decisions that share their second."""
    factory.random.reseed_random("explorer")
    officer = headers(Role.LOAN_OFFICER)
    out: list[dict[str, Any]] = []

    def score(**body: Any) -> None:
        out.append(post_score(client, officer, ScoreRequestFactory(**body)))
        clock.advance(timedelta(hours=1))

    for i in range(18):
        score(subject_id=f"farmer-{i % 5}")
    out.append(post_score(client, officer, ScoreRequestFactory(subject_id="twin")))  # same time as the next
    for _ in range(4):
        score(segment="enterprise", subject_id="coop-1", features=EnterpriseFeaturesFactory())
    with ctx.db.unit_of_work() as session:
        challenger = register_model(
            session, ctx, store, model=trained_models["farmer"], actor="test:setup", data_source="again"
        ).version
    promoted = client.post(f"/v1/models/{challenger}/promote", headers=headers(Role.CREDIT_MANAGER))
    assert promoted.status_code == 200, promoted.text
    for i in range(8):
        score(subject_id=f"farmer-{i % 5}")
    return out


def _newest_first(decisions: list[dict[str, Any]]) -> list[str]:
    ordered = sorted(decisions, key=lambda d: (d["created_at"], d["id"]), reverse=True)
    return [d["id"] for d in ordered]


def _ids(client: TestClient, headers: Headers, **params: Any) -> list[str]:
    response = client.get("/v1/scores", params={"limit": 500, **params}, headers=headers(Role.AUDITOR))
    assert response.status_code == 200, response.text
    return [s["id"] for s in response.json()["scores"]]


def test_pages_run_newest_first_to_the_end(
    client: TestClient, headers: Headers, scored: list[dict[str, Any]]
) -> None:
    seen: list[str] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        page = client.get("/v1/scores", params={"limit": 7, "offset": offset}, headers=headers(Role.AUDITOR))
        body = page.json()
        assert body["limit"] == 7 and body["offset"] == offset
        seen += [s["id"] for s in body["scores"]]
        offset, pages = body["next_offset"], pages + 1
    assert seen == _newest_first(scored) and len(seen) == 31
    assert pages == 5  # 7 + 7 + 7 + 7 + 3
    exact = client.get("/v1/scores", params={"limit": 31}, headers=headers(Role.AUDITOR)).json()
    assert exact["next_offset"] is None and len(exact["scores"]) == 31


def test_each_filter_narrows_alone_and_together(
    client: TestClient, headers: Headers, scored: list[dict[str, Any]]
) -> None:
    versions = sorted({d["model_version"] for d in scored if d["segment"] == "farmer"})
    hints = {d["decision_hint"] for d in scored}
    assert len(versions) == 2 and len(hints) >= 2, (versions, hints)
    cases: list[dict[str, str]] = [
        *({"model_version": v} for v in versions),
        *({"decision_hint": h} for h in ("approve", "review", "decline")),
        {"subject_id": "farmer-3"},
        {"segment": "enterprise"},
        {"segment": "farmer", "model_version": versions[0], "decision_hint": sorted(hints)[0]},
        {"subject_id": "farmer-1", "model_version": versions[1]},
    ]
    for params in cases:
        expected = [d for d in scored if all(d[k] == v for k, v in params.items())]
        assert _ids(client, headers, **params) == _newest_first(expected), params


def test_the_time_window_includes_its_start_and_excludes_its_end(
    client: TestClient, headers: Headers, scored: list[dict[str, Any]]
) -> None:
    times = sorted({d["created_at"] for d in scored})
    start, end = times[3], times[9]
    expected = [d for d in scored if start <= d["created_at"] < end]
    assert _ids(client, headers, scored_from=start, scored_to=end) == _newest_first(expected)
    assert _ids(client, headers, scored_from=times[-1]) == _newest_first(
        [d for d in scored if d["created_at"] == times[-1]]
    )
    assert len(_ids(client, headers, scored_to=times[0])) == 0
    # the same instant written with another offset
    shanghai = datetime.fromisoformat(start).astimezone(timezone(timedelta(hours=8))).isoformat()
    assert shanghai.endswith("+08:00")
    assert _ids(client, headers, scored_from=shanghai, scored_to=end) == _newest_first(expected)
    window = {"scored_from": start, "scored_to": end, "decision_hint": scored[5]["decision_hint"]}
    both = [d for d in expected if d["decision_hint"] == window["decision_hint"]]
    assert _ids(client, headers, **window) == _newest_first(both)


def test_decisions_of_the_same_instant_have_a_stable_order(
    client: TestClient, headers: Headers, scored: list[dict[str, Any]]
) -> None:
    twin = next(d for d in scored if d["subject_id"] == "twin")
    same = [d["id"] for d in scored if d["created_at"] == twin["created_at"]]
    assert len(same) == 2
    second_later = utc_iso(datetime.fromisoformat(twin["created_at"]) + timedelta(seconds=1))
    listed = _ids(client, headers, scored_from=twin["created_at"], scored_to=second_later)
    assert listed == sorted(same, reverse=True)


def test_bad_filters_are_422_problems(
    client: TestClient, headers: Headers, champions: dict[str, str]
) -> None:
    auditor = headers(Role.AUDITOR)
    bad = problem(client.get("/v1/scores", params={"decision_hint": "maybe"}, headers=auditor), 422)
    assert "decision_hint" in str(bad)
    problem(client.get("/v1/scores", params={"scored_from": "yesterday"}, headers=auditor), 422)
    backwards = {"scored_from": "2026-03-02T10:00:00Z", "scored_to": "2026-03-02T09:00:00Z"}
    body = problem(client.get("/v1/scores", params=backwards, headers=auditor), 422)
    assert "scored_to" in str(body)
    problem(client.get("/v1/scores", params={"limit": 501}, headers=auditor), 422)
    unknown = client.get("/v1/scores", params={"model_version": "farmer-v99"}, headers=auditor)
    assert unknown.status_code == 200 and unknown.json()["scores"] == []
