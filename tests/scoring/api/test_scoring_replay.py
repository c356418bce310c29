"""Replay recomputes a stored decision bit for bit with its stored model version."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import factory.random
from fastapi.testclient import TestClient
from sqlalchemy import update

from services.scoring.app import create_app
from services.scoring.models import Decision, ModelArtifact
from services.scoring.settings import ScoringContext
from shared.audit import audit_entries
from shared.auth import Role
from shared.platform import ServiceContext
from tests.factories.scoring import FEATURE_FACTORIES, ScoreRequestFactory
from tests.scoring.api.receipt_kit import store_v1_receipt
from tests.scoring.kit import post_score
from tests.support import assert_problem as problem

Headers = Callable[[Role], dict[str, str]]


def test_replay_is_identical_for_every_stored_decision(
    client: TestClient, ctx: ServiceContext, headers: Headers
) -> None:
    factory.random.reseed_random("replay")
    ids = [
        post_score(
            client,
            headers(Role.LOAN_OFFICER),
            ScoreRequestFactory(segment=segment, features=FEATURE_FACTORIES[segment]()),
        )["id"]
        for segment in ("farmer", "enterprise") * 5
    ]
    for role in (Role.AUDITOR, Role.ADMIN, Role.CREDIT_MANAGER):
        response = client.post(f"/v1/scores/{ids[0]}/replay", headers=headers(role))
        assert response.status_code == 200, response.text
    for score_id in ids:
        body = client.post(f"/v1/scores/{score_id}/replay", headers=headers(Role.AUDITOR)).json()
        assert body["identical"] is True and body["differences"] == []
        assert body["replayed"] == body["original"]
        stored = client.get(f"/v1/scores/{score_id}", headers=headers(Role.AUDITOR)).json()
        assert body["original"]["score"] == stored["score"]
        points = {c["feature"]: c["points"] for c in stored["contributions"]}
        assert body["original"]["contributions"] == points
    with ctx.db.unit_of_work(read_only=True) as session:
        actions = [e["action"] for e in audit_entries(session, ctx.tables, subject=f"score:{ids[0]}")]
    assert actions == ["score.created"] + ["score.replayed"] * 4


def test_replay_reports_altered_inputs(client: TestClient, ctx: ServiceContext, headers: Headers) -> None:
    factory.random.reseed_random("replay-tamper")
    out = post_score(client, headers(Role.LOAN_OFFICER), ScoreRequestFactory())
    features = {c["feature"]: c["value"] for c in out["contributions"]}
    features["years_farming"] = 59 if features["years_farming"] < 30 else 0
    with ctx.db.unit_of_work() as session:
        session.execute(
            update(Decision).where(Decision.id == out["id"]).values(features=json.dumps(features))
        )
    body = client.post(f"/v1/scores/{out['id']}/replay", headers=headers(Role.AUDITOR)).json()
    assert body["identical"] is False
    fields = {d["field"] for d in body["differences"]}
    assert "receipt.features_sha256" in fields
    assert "contributions.years_farming" in fields


def test_replay_refuses_a_changed_artifact(
    client: TestClient,
    ctx: ServiceContext,
    headers: Headers,
    champions: dict[str, str],
    client_for: Callable[..., TestClient],
) -> None:
    factory.random.reseed_random("replay-artifact")
    out = post_score(client, headers(Role.LOAN_OFFICER), ScoreRequestFactory())
    model_file = Path(ctx.settings.var_dir) / "models" / "farmer" / champions["farmer"] / "model.txt"
    model_file.write_text(model_file.read_text() + "\n")  # any change breaks the SHA-256
    # the local directory is a cache: a copy that does not match is replaced from the database
    fresh = client_for(create_app(ctx), raise_server_exceptions=False)  # a cold model cache
    replayed = fresh.post(f"/v1/scores/{out['id']}/replay", headers=headers(Role.AUDITOR))
    assert replayed.status_code == 200 and replayed.json()["identical"] is True, replayed.text
    model_file.write_text(model_file.read_text() + "\n")
    with ctx.db.unit_of_work() as session:  # and the stored artifact changed too: nothing to trust
        session.execute(
            update(ModelArtifact)
            .where(ModelArtifact.version == champions["farmer"])
            .values(model_file=model_file.read_bytes())
        )
    fresh = client_for(create_app(ctx), raise_server_exceptions=False)
    body = problem(fresh.post(f"/v1/scores/{out['id']}/replay", headers=headers(Role.AUDITOR)), 500)
    assert "SHA-256" in body["detail"]


def test_waterfall_is_a_png(client: TestClient, headers: Headers) -> None:
    factory.random.reseed_random("waterfall")
    out = post_score(client, headers(Role.LOAN_OFFICER), ScoreRequestFactory())
    response = client.get(f"/v1/scores/{out['id']}/waterfall.png", headers=headers(Role.AUDITOR))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n") and len(response.content) > 5_000


def test_replay_compares_integer_points_the_hint_and_what_the_receipt_signs(
    client: TestClient, ctx: ServiceContext, headers: Headers
) -> None:
    factory.random.reseed_random("replay-integers")
    out = post_score(client, headers(Role.LOAN_OFFICER), ScoreRequestFactory())
    body = client.post(f"/v1/scores/{out['id']}/replay", headers=headers(Role.AUDITOR)).json()
    assert body["identical"] is True, body["differences"]
    assert body["original"]["integer_score"] == out["integer_score"]
    assert body["original"]["decision_hint"] == out["decision_hint"]
    assert body["original"]["spec_version"] == "1.2.0"
    with ctx.db.unit_of_work() as session:
        row = session.get(Decision, out["id"])
        assert row is not None
        outcome = json.loads(row.outcome)
        first, points = outcome["integer_points"]["points"][0]
        outcome["integer_points"]["points"][0] = [first, points + 1]
        hint = "decline" if row.decision_hint != "decline" else "approve"
        session.execute(
            update(Decision)
            .where(Decision.id == out["id"])
            .values(outcome=json.dumps(outcome), decision_hint=hint)
        )
    body = client.post(f"/v1/scores/{out['id']}/replay", headers=headers(Role.AUDITOR)).json()
    fields = {d["field"] for d in body["differences"]}
    assert body["identical"] is False
    assert {f"integer_points.{first}", "decision_hint"} <= fields  # against the recomputation
    assert {f"receipt.integer_points.{first}", "receipt.decision_hint"} <= fields  # against the receipt


def test_replay_of_a_decision_signed_before_v2_is_identical(
    client: TestClient, ctx: ScoringContext, headers: Headers
) -> None:
    factory.random.reseed_random("replay-v1")
    out = post_score(client, headers(Role.LOAN_OFFICER), ScoreRequestFactory())
    store_v1_receipt(ctx, out["id"])
    body = client.post(f"/v1/scores/{out['id']}/replay", headers=headers(Role.AUDITOR)).json()
    assert body["identical"] is True, body["differences"]
    assert body["original"]["decision_hint"] is None  # a v1 receipt signs no thresholds
