"""Model card and waterfall rendering."""

from __future__ import annotations

import json

from services.scoring.domain.card import build_model_card, model_card_markdown
from services.scoring.domain.explain import explain_applicant
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.waterfall import render_waterfall


def test_card_is_json_and_markdown(farmer_model: TrainedModel) -> None:
    card = build_model_card(farmer_model)
    json.dumps(card, allow_nan=False)
    assert card["model"]["artifact_sha256"] == farmer_model.artifact_sha256
    assert card["data"]["fingerprint"] == farmer_model.metadata["data"]["fingerprint"]
    assert len(card["monotone_constraints"]) == len(farmer_model.spec.features)
    drivers = [d["mean_abs_points"] for d in card["top_drivers"]]
    assert drivers == sorted(drivers, reverse=True)
    text = model_card_markdown(card)
    for heading in (
        "## Intended use",
        "## Out-of-scope use",
        "## Data",
        "## Metrics",
        "## Calibration",
        "## Monotone constraints",
        "## Top global drivers",
        "## Limitations",
    ):
        assert heading in text
    assert "3-fold CV AUC" in text


def test_waterfall_png(farmer_model: TrainedModel) -> None:
    explanation = explain_applicant(farmer_model, farmer_model.spec.example)
    png = render_waterfall(explanation, max_features=6)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 5000
