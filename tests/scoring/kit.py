"""Helpers the scoring API tests share (generic ones come from ``tests.support``)."""

from __future__ import annotations

from typing import Any

import factory.random
from fastapi.testclient import TestClient

from services.scoring.domain.explain import explain_applicant
from services.scoring.domain.model import TrainedModel
from services.scoring.settings import ScoringSettings
from tests.factories.scoring import FarmerFeaturesFactory


def post_score(
    client: TestClient, headers: dict[str, str], body: dict[str, Any], **params: str
) -> dict[str, Any]:
    """POST /v1/scores and expect 201."""
    response = client.post("/v1/scores", json=body, headers=headers, params=params)
    assert response.status_code == 201, response.text
    out: dict[str, Any] = response.json()
    return out


def disagreeing_applicant(
    champion: TrainedModel, challenger: TrainedModel, settings: ScoringSettings, *, seed: str
) -> dict[str, Any]:
    """Farmer features the two models give different decision hints for (found by a seeded search)."""
    factory.random.reseed_random(seed)
    for _ in range(2_000):
        features: dict[str, Any] = FarmerFeaturesFactory()
        hints = {settings.decision_hint(explain_applicant(m, features).score) for m in (champion, challenger)}
        if len(hints) == 2:
            return features
    raise AssertionError("no applicant on which the challenger disagrees with the champion")
