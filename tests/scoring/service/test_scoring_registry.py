"""The registry: training via the API, determinism, promotion (audited), one champion, shadow."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import factory.random
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from services.scoring import jobs as scoring_jobs
from services.scoring.domain.explain import explain_applicant
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.scale import grade_for
from services.scoring.models import STATUS_CHAMPION, ModelVersion, ShadowScore
from services.scoring.repository.artifacts import ModelStore
from services.scoring.service.registry import promote, register_model
from shared.audit import audit_entries, verify_chain
from shared.auth import Role
from shared.jobs import run_queued_jobs
from shared.platform import ServiceContext
from tests.factories import bind_session
from tests.factories.scoring import ModelVersionFactory, ScoreRequestFactory
from tests.scoring.kit import post_score
from tests.support import assert_problem as problem

Headers = Callable[[Role], dict[str, str]]
SMALL = {"segment": "farmer", "rows": 2000, "seed": 3}


def _train(client: TestClient, headers: Headers, **body: Any) -> dict[str, Any]:
    """Queue training (202), run the job as the worker does; the registered model."""
    response = client.post("/v1/models/train", json={**SMALL, **body}, headers=headers(Role.CREDIT_MANAGER))
    assert response.status_code == 202, response.text
    job = response.json()
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    assert run_queued_jobs(ctx, scoring_jobs.job_handlers(ctx)) == 1
    done = client.get(job["href"], headers=headers(Role.CREDIT_MANAGER)).json()
    assert done["status"] == "succeeded", done
    out: dict[str, Any] = done["result"]
    return out


def _champions(client: TestClient, headers: Headers, segment: str) -> list[str]:
    listed = client.get(
        "/v1/models", params={"segment": segment, "status": "champion"}, headers=headers(Role.AUDITOR)
    ).json()["models"]
    return [m["version"] for m in listed]


def test_same_seed_same_artifact(client: TestClient, headers: Headers, champions: dict[str, str]) -> None:
    first, second = _train(client, headers), _train(client, headers)
    assert first["version"] != second["version"]
    assert first["artifact_sha256"] == second["artifact_sha256"]
    assert first["data_fingerprint"] == second["data_fingerprint"]
    assert first["status"] == second["status"] == "challenger"  # the segment has a champion
    other = _train(client, headers, seed=4)
    assert other["artifact_sha256"] != first["artifact_sha256"]
    detail = client.get(f"/v1/models/{first['version']}", headers=headers(Role.AUDITOR)).json()
    assert detail["parameters"]["seed"] == 3 and detail["library_versions"]["lightgbm"]
    assert detail["spec"]["segment"] == "farmer" and detail["metrics"]["test"]["auc"] > 0.6


def test_training_is_a_job_the_request_only_queues(
    client: TestClient, ctx: ServiceContext, headers: Headers, champions: dict[str, str]
) -> None:
    manager = headers(Role.CREDIT_MANAGER)
    key = {"Idempotency-Key": "train-farmer-3"}
    response = client.post("/v1/models/train", json=SMALL, headers={**manager, **key})
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == job["href"] == f"/v1/jobs/{job['job_id']}"
    assert (job["kind"], job["status"], job["result"]) == ("scoring.train", "queued", None)
    again = client.post("/v1/models/train", json=SMALL, headers={**manager, **key})
    assert again.status_code == 202 and again.json()["job_id"] == job["job_id"]
    # Nothing was trained in the request: the registry holds only the champions.
    listed = client.get("/v1/models", headers=headers(Role.AUDITOR)).json()["models"]
    assert sorted(m["version"] for m in listed) == sorted(champions.values())
    assert client.get(job["href"], headers=headers(Role.AUDITOR)).json()["status"] == "queued"
    for role in (Role.LOAN_OFFICER, Role.MARKETPLACE):
        problem(client.get(job["href"], headers=headers(role)), 403)
    assert run_queued_jobs(ctx, scoring_jobs.job_handlers(ctx)) == 1
    done = client.get(job["href"], headers=headers(Role.AUDITOR)).json()
    assert done["status"] == "succeeded" and done["error"] is None, done
    model = done["result"]
    assert model["version"] == "farmer-v2" and model["status"] == "challenger"
    assert model["created_by"] == job["created_by"]
    assert {k: v for k, v in done["progress"].items() if k != "rounds"} == {
        "stage": "registered",
        "rows": SMALL["rows"],
        "max_rounds": 1000,
        "version": "farmer-v2",
    }
    assert 0 < done["progress"]["rounds"] <= 1000
    listed = client.get("/v1/models", params={"segment": "farmer"}, headers=headers(Role.AUDITOR)).json()
    assert model in listed["models"]


def test_a_training_job_that_cannot_train_fails_in_plain_words(
    client: TestClient, ctx: ServiceContext, headers: Headers
) -> None:
    job = client.post("/v1/models/train", json={**SMALL, "rows": 1000}, headers=headers(Role.ADMIN)).json()
    with ctx.db.unit_of_work() as session:  # a payload that no longer trains (say, a segment removed)
        t = ctx.tables.jobs
        session.execute(t.update().values(payload='{"rows": 1000, "seed": 3, "segment": "fishermen"}'))
    assert run_queued_jobs(ctx, scoring_jobs.job_handlers(ctx)) == 1
    failed = client.get(job["href"], headers=headers(Role.ADMIN)).json()
    assert failed["status"] == "failed" and failed["result"] is None
    assert "fishermen" in failed["error"], failed


def test_training_refuses_bad_requests(client: TestClient, headers: Headers) -> None:
    body = problem(
        client.post("/v1/models/train", json={**SMALL, "segment": "fishermen"}, headers=headers(Role.ADMIN)),
        422,
    )
    assert body["errors"][0]["field"] == "segment"
    body = problem(
        client.post("/v1/models/train", json={**SMALL, "rows": 10_000_000}, headers=headers(Role.ADMIN)), 422
    )
    assert body["errors"][0]["field"] == "rows"
    for role in (Role.LOAN_OFFICER, Role.AUDITOR, Role.SERVICE, Role.MARKETPLACE):
        problem(client.post("/v1/models/train", json=SMALL, headers=headers(role)), 403)


def test_promotion_is_audited_and_keeps_one_champion(
    client: TestClient, ctx: ServiceContext, headers: Headers, champions: dict[str, str]
) -> None:
    challenger = _train(client, headers)
    promote_path = f"/v1/models/{challenger['version']}/promote"
    problem(client.post(promote_path, headers=headers(Role.LOAN_OFFICER)), 403)
    response = client.post(promote_path, headers=headers(Role.ADMIN))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "champion" and response.json()["promoted_by"].startswith("admin:")
    assert _champions(client, headers, "farmer") == [challenger["version"]]
    old = client.get(f"/v1/models/{champions['farmer']}", headers=headers(Role.AUDITOR)).json()
    assert old["status"] == "retired"
    assert _champions(client, headers, "enterprise") == [champions["enterprise"]]

    again = problem(client.post(promote_path, headers=headers(Role.ADMIN)), 409)
    assert again["current_state"] == "champion"
    problem(client.post("/v1/models/farmer-v999/promote", headers=headers(Role.ADMIN)), 404)

    with ctx.db.unit_of_work(read_only=True) as session:
        assert verify_chain(session, ctx.tables, ctx.keyring).ok
        entries = audit_entries(session, ctx.tables, subject=f"model:{challenger['version']}")
    promoted = [e for e in entries if e["action"] == "model.promoted"]
    assert len(promoted) == 1 and promoted[0]["payload"]["previous_champion"] == champions["farmer"]
    with ctx.db.unit_of_work(read_only=True) as session:
        topics = session.scalars(select(ctx.tables.outbox.c.topic)).all()
    assert topics.count("model.promoted") == 3
    verified = client.get("/v1/audit/verify", headers=headers(Role.AUDITOR))
    assert verified.status_code == 200 and verified.json()["ok"] is True

    factory.random.reseed_random("after-promotion")
    assert (
        post_score(client, headers(Role.LOAN_OFFICER), ScoreRequestFactory())["model_version"]
        == challenger["version"]
    )


def test_the_database_refuses_a_second_champion(ctx: ServiceContext, champions: dict[str, str]) -> None:
    with ctx.db.unit_of_work() as session:
        bind_session(ModelVersionFactory, session=session)
        ModelVersionFactory(segment="farmer")  # a challenger is fine
    with ctx.db.unit_of_work() as session:
        bind_session(ModelVersionFactory, session=session)
        with pytest.raises(IntegrityError):
            ModelVersionFactory(segment="farmer", status=STATUS_CHAMPION)
        session.rollback()
    with ctx.db.unit_of_work() as session:
        bind_session(ModelVersionFactory, session=session)
        ModelVersionFactory(segment="orchards", status=STATUS_CHAMPION)  # another segment may
    with ctx.db.unit_of_work(read_only=True) as session:
        statuses = session.scalars(select(ModelVersion.status)).all()
    assert statuses.count(STATUS_CHAMPION) == 3


def test_racing_promotions_leave_one_champion(
    client: TestClient, ctx: ServiceContext, headers: Headers, store: ModelStore
) -> None:
    versions = [_train(client, headers, seed=seed)["version"] for seed in (11, 12)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(version: str) -> None:
        try:
            barrier.wait(timeout=10)
            with ctx.db.unit_of_work() as session:
                promote(session, ctx, store, version=version, actor="test:race")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(v,)) for v in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    champions = _champions(client, headers, "farmer")
    assert len(champions) == 1 and champions[0] in versions


def test_challengers_are_scored_in_shadow(
    client: TestClient, ctx: ServiceContext, headers: Headers, champions: dict[str, str], store: ModelStore
) -> None:
    challenger = _train(client, headers)
    factory.random.reseed_random("shadow")
    body = ScoreRequestFactory()
    out = post_score(client, headers(Role.LOAN_OFFICER), body)
    assert out["model_version"] == champions["farmer"]
    with ctx.db.unit_of_work(read_only=True) as session:
        shadows = session.scalars(select(ShadowScore.decision_id)).all()
    assert shadows.count(out["id"]) == 1
    shadow = client.get(f"/v1/scores/{out['id']}/shadow", headers=headers(Role.AUDITOR))
    assert shadow.status_code == 200
    (entry,) = shadow.json()["shadow_scores"]
    assert entry["challenger_version"] == challenger["version"]
    # the challenger's own score of the same applicant, not just any plausible number
    model = store.load("farmer", challenger["version"], challenger["artifact_sha256"])
    expected = explain_applicant(model, body["features"])
    assert entry["score"] == pytest.approx(expected.score, abs=1e-9)
    assert entry["pd"] == pytest.approx(expected.pd, rel=1e-9)
    assert entry["grade"] == grade_for(entry["score"])
    assert entry["decision_hint"] == ctx.settings.decision_hint(entry["score"])
    problem(client.get(f"/v1/scores/{out['id']}/shadow", headers=headers(Role.LOAN_OFFICER)), 403)


def test_only_the_newest_challengers_are_scored_in_shadow(
    client: TestClient,
    ctx: ServiceContext,
    headers: Headers,
    store: ModelStore,
    trained_models: dict[str, TrainedModel],
    champions: dict[str, str],
) -> None:
    limit = ctx.settings.shadow_max_challengers
    with ctx.db.unit_of_work() as session:
        versions = [
            register_model(
                session,
                ctx,
                store,
                model=trained_models["farmer"],
                actor="test:setup",
                data_source="synthetic:test",
            ).version
            for _ in range(limit + 1)
        ]
    factory.random.reseed_random("shadow-limit")
    out = post_score(client, headers(Role.LOAN_OFFICER), ScoreRequestFactory())
    shadow = client.get(f"/v1/scores/{out['id']}/shadow", headers=headers(Role.AUDITOR)).json()
    assert [s["challenger_version"] for s in shadow["shadow_scores"]] == sorted(versions[-limit:])


def test_model_cards(client: TestClient, headers: Headers, champions: dict[str, str]) -> None:
    version = champions["enterprise"]
    card = client.get(f"/v1/models/{version}/card", headers=headers(Role.AUDITOR))
    assert card.status_code == 200
    body = card.json()
    registry = client.get(f"/v1/models/{version}", headers=headers(Role.AUDITOR)).json()
    assert body["version"] == version and body["status"] == "champion"
    assert body["model"]["artifact_sha256"] == registry["artifact_sha256"]
    assert {"intended_use", "metrics", "calibration", "monotone_constraints", "limitations"} <= set(body)
    markdown = client.get(f"/v1/models/{version}/card.md", headers=headers(Role.AUDITOR))
    assert markdown.status_code == 200 and markdown.headers["content-type"].startswith("text/markdown")
    assert markdown.text.startswith("# Model card — enterprise") and version in markdown.text
    problem(client.get("/v1/models/nope-v1/card", headers=headers(Role.AUDITOR)), 404)
