"""POST /v1/scores answers with the very bytes the stored decision reads back as.

The answer of a new score is built from the values its row was written from
(``presenters.scored_decision_out``), not by parsing the stored JSON back; these tests hold it
to the bytes ``GET /v1/scores/{id}`` renders from the stored row (``decision_out`` through
FastAPI's ``response_model``), in both languages, with missing values, stated sources, a
marketplace time, a monitoring group and challengers scored in shadow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import factory.random
import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter

from services.scoring.domain.model import TrainedModel
from services.scoring.domain.synthetic import generate
from services.scoring.domain.training import train_model
from services.scoring.models import Decision
from services.scoring.presenters import decision_out
from services.scoring.repository.artifacts import ModelStore
from services.scoring.repository.specs import load_segment_spec
from services.scoring.schemas import ScoreOut
from services.scoring.service.registry import register_model
from services.scoring.settings import ScoringContext
from shared.auth import Role
from tests.factories.scoring import ScoreRequestFactory
from tests.scoring.kit import disagreeing_applicant

Headers = Callable[[Role], dict[str, str]]


def _bodies() -> list[dict[str, Any]]:
    factory.random.reseed_random("answer-bytes")
    plain: dict[str, Any] = ScoreRequestFactory()
    missing: dict[str, Any] = ScoreRequestFactory()
    missing["features"].update(marketplace_orders_12m=None, marketplace_dispute_rate=None)
    stated: dict[str, Any] = ScoreRequestFactory(monitoring={"group": "north"})
    stated["features"].update(
        marketplace_orders_12m=7, marketplace_volume_12m=1462, marketplace_dispute_rate=None
    )
    stated["feature_sources"] = {
        "marketplace_orders_12m": "marketplace",
        "marketplace_volume_12m": "marketplace",
        "marketplace_dispute_rate": "default",
    }
    stated["marketplace_as_of"] = "2026-03-02T09:59:00.123456+02:00"
    return [plain, missing, stated]


def _answers_match_the_stored_decision(
    client: TestClient, ctx: ScoringContext, headers: Headers, body: dict[str, Any], lang: str
) -> dict[str, Any]:
    created = client.post("/v1/scores", json=body, headers=headers(Role.LOAN_OFFICER), params={"lang": lang})
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == "application/json"
    score_id = created.json()["id"]
    read = client.get(f"/v1/scores/{score_id}", headers=headers(Role.AUDITOR), params={"lang": lang})
    assert read.status_code == 200, read.text
    assert created.content == read.content
    with ctx.db.unit_of_work(read_only=True) as session:
        stored = session.get(Decision, score_id)
        assert stored is not None
        rendered = TypeAdapter(ScoreOut).dump_json(decision_out(stored, lang), by_alias=True)
    assert created.content == rendered
    answer: dict[str, Any] = created.json()
    return answer


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_new_score_answers_with_the_bytes_of_its_stored_decision(
    client: TestClient, ctx: ScoringContext, headers: Headers, lang: str
) -> None:
    for body in _bodies():
        _answers_match_the_stored_decision(client, ctx, headers, body, lang)


@pytest.fixture(scope="module")
def rough_challenger() -> TrainedModel:
    """A farmer model trained on little data: it disagrees with the champion on some applicants."""
    return train_model(load_segment_spec("farmer"), generate("farmer", 400, 98), seed=98)


def test_the_answer_bytes_match_with_challengers_in_shadow(
    client: TestClient,
    ctx: ScoringContext,
    headers: Headers,
    store: ModelStore,
    trained_models: dict[str, TrainedModel],
    rough_challenger: TrainedModel,
) -> None:
    with ctx.db.unit_of_work() as session:
        register_model(
            session, ctx, store, model=rough_challenger, actor="test:setup", data_source="synthetic:rough"
        )
    features = disagreeing_applicant(
        trained_models["farmer"], rough_challenger, ctx.settings, seed="answer-bytes"
    )
    for body in _bodies():
        _answers_match_the_stored_decision(client, ctx, headers, body, "en")
    disagreed = ScoreRequestFactory(features=features)
    assert _answers_match_the_stored_decision(client, ctx, headers, disagreed, "en")[
        "challenger_disagreement"
    ]
