"""POST /v1/scores with the caller's feature sources: checked, completed, stored, returned in the
answer, the stored decision and the listing, audited; and whether a challenger disagreed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.scoring.domain.model import TrainedModel
from services.scoring.domain.spec import is_missing
from services.scoring.domain.synthetic import generate
from services.scoring.domain.training import train_model
from services.scoring.models import Decision
from services.scoring.repository.artifacts import ModelStore
from services.scoring.repository.specs import load_segment_spec
from services.scoring.service.registry import register_model
from services.scoring.settings import ScoringContext
from shared.audit import audit_entries
from shared.auth import Role
from tests.factories.scoring import ScoreRequestFactory
from tests.scoring.kit import disagreeing_applicant, post_score
from tests.support import assert_problem, count_rows

Headers = Callable[[Role], dict[str, str]]
AS_OF = "2026-03-02T07:59:00+00:00"


def _body(**features: Any) -> dict[str, Any]:
    body: dict[str, Any] = ScoreRequestFactory()
    body["features"].update(features)
    return body


def test_the_stated_sources_are_completed_stored_and_returned(
    client: TestClient, ctx: ScoringContext, headers: Headers
) -> None:
    body = _body(marketplace_orders_12m=7, marketplace_volume_12m=1462, marketplace_dispute_rate=None)
    body["feature_sources"] = {
        "marketplace_orders_12m": "marketplace",
        "marketplace_volume_12m": "marketplace",
        "marketplace_dispute_rate": "default",
    }
    body["marketplace_as_of"] = AS_OF
    out = post_score(client, headers(Role.SERVICE), body)
    spec = load_segment_spec("farmer")
    expected = {
        f.name: body["feature_sources"].get(f.name)
        or ("default" if is_missing(body["features"].get(f.name)) else "applicant")
        for f in spec.features
    }
    assert out["feature_sources"] == expected
    assert out["marketplace_as_of"] == "2026-03-02T07:59:00.000000Z"
    assert out["challenger_disagreement"] is False  # no challenger at all
    stored = client.get(f"/v1/scores/{out['id']}", headers=headers(Role.AUDITOR)).json()
    listed = client.get(
        "/v1/scores", params={"subject_id": body["subject_id"]}, headers=headers(Role.AUDITOR)
    )
    assert stored == out and listed.json()["scores"] == [out]
    with ctx.db.unit_of_work(read_only=True) as session:
        (entry,) = [
            e
            for e in audit_entries(session, ctx.tables, subject=f"score:{out['id']}")
            if e["action"] == "score.created"
        ]
    assert entry["payload"]["feature_sources"] == expected
    assert entry["payload"]["marketplace_as_of"] == "2026-03-02T07:59:00.000000Z"


def test_without_sources_the_decision_keeps_none(client: TestClient, headers: Headers) -> None:
    out = post_score(client, headers(Role.LOAN_OFFICER), ScoreRequestFactory())
    assert (out["feature_sources"], out["marketplace_as_of"]) == (None, None)


@pytest.mark.parametrize(
    ("sources", "field", "message"),
    [
        ({"shoe_size": "applicant"}, "feature_sources.shoe_size", "is not a feature of segment 'farmer'"),
        (
            {"land_area_ha": "default"},
            "feature_sources.land_area_ha",
            "is default but the feature has a value",
        ),
        (
            {"marketplace_dispute_rate": "marketplace"},
            "feature_sources.marketplace_dispute_rate",
            "is marketplace but the feature has no value",
        ),
    ],
)
def test_bad_sources_are_a_422_naming_the_feature_and_store_nothing(
    client: TestClient,
    ctx: ScoringContext,
    headers: Headers,
    sources: dict[str, str],
    field: str,
    message: str,
) -> None:
    body = _body(land_area_ha=3.0, marketplace_dispute_rate=None)
    body["feature_sources"] = sources
    problem = assert_problem(client.post("/v1/scores", json=body, headers=headers(Role.SERVICE)), 422)
    assert {"field": field, "message": message} in problem["errors"]
    assert count_rows(ctx, Decision.__table__) == 0


def test_a_source_that_is_not_one_of_the_three_words_is_a_422(
    client: TestClient, ctx: ScoringContext, headers: Headers
) -> None:
    body = _body()
    body["feature_sources"] = {"land_area_ha": "guessed"}
    problem = assert_problem(client.post("/v1/scores", json=body, headers=headers(Role.SERVICE)), 422)
    assert any("feature_sources" in e["field"] and "land_area_ha" in e["field"] for e in problem["errors"])
    body = _body()
    for moment in ("2026-03-02T07:59:00", "9999-12-31T23:59:59-23:00"):  # no offset; after UTC's end
        body["marketplace_as_of"] = moment
        assert_problem(client.post("/v1/scores", json=body, headers=headers(Role.SERVICE)), 422)
    assert count_rows(ctx, Decision.__table__) == 0


@pytest.fixture(scope="module")
def rough_challenger() -> TrainedModel:
    """A farmer model trained on little data: it disagrees with the champion on some applicants."""
    return train_model(load_segment_spec("farmer"), generate("farmer", 400, 99), seed=99)


def test_a_challenger_giving_another_hint_is_a_disagreement(
    client: TestClient,
    ctx: ScoringContext,
    store: ModelStore,
    headers: Headers,
    trained_models: dict[str, TrainedModel],
    rough_challenger: TrainedModel,
) -> None:
    with ctx.db.unit_of_work() as session:
        register_model(
            session, ctx, store, model=rough_challenger, actor="test:setup", data_source="synthetic:rough"
        )
    features = disagreeing_applicant(
        trained_models["farmer"], rough_challenger, ctx.settings, seed="challenger-disagrees"
    )
    out = post_score(
        client, headers(Role.SERVICE), {"segment": "farmer", "subject_id": "s-1", "features": features}
    )
    assert out["challenger_disagreement"] is True
    (shadow,) = client.get(f"/v1/scores/{out['id']}/shadow", headers=headers(Role.AUDITOR)).json()[
        "shadow_scores"
    ]
    assert shadow["decision_hint"] != out["decision_hint"]
    assert client.get(f"/v1/scores/{out['id']}", headers=headers(Role.AUDITOR)).json()[
        "challenger_disagreement"
    ]

    for _ in range(50):  # the same challenger agrees on most applicants: find one it agrees on
        candidate = post_score(client, headers(Role.SERVICE), ScoreRequestFactory())
        shadows = client.get(f"/v1/scores/{candidate['id']}/shadow", headers=headers(Role.AUDITOR)).json()
        if shadows["shadow_scores"][0]["decision_hint"] == candidate["decision_hint"]:
            assert candidate["challenger_disagreement"] is False
            break
    else:
        pytest.fail("the challenger disagreed on every applicant")


def test_a_missing_trade_history_is_scored_and_explained(client: TestClient, headers: Headers) -> None:
    """Spec 1.1.0 lets the marketplace orders and volume be missing (a product scoring without
    the marketplace; the synthetic training data has 4% of rows so): scored, and the points
    add up to the score exactly."""
    body = _body(marketplace_orders_12m=None, marketplace_volume_12m=None, marketplace_dispute_rate=None)
    missing = post_score(client, headers(Role.SERVICE), body)
    total = missing["base_points"] + sum(c["points"] for c in missing["contributions"])
    assert abs(total - missing["score"]) < 1e-6
