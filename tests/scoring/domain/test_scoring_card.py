"""Model card and waterfall rendering."""

from __future__ import annotations

import json

from services.scoring.domain.card import build_model_card, model_card_markdown
from services.scoring.domain.explain import explain_applicant
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.spec import SegmentSpec
from services.scoring.domain.synthetic import generate
from services.scoring.domain.training import train_model
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


def test_tuned_card_shows_the_search_and_both_figures(farmer_spec: SegmentSpec) -> None:
    model = train_model(farmer_spec, generate("farmer", 700, 17), seed=2, tune=2, cv_folds=2)
    card = build_model_card(model)
    json.dumps(card, allow_nan=False)
    tuning, metrics = card["tuning"], model.metadata["metrics"]
    assert tuning["trials"] == 2 and tuning["inner_folds"] == 3 and tuning["outer_folds"] == 2
    assert tuning["best_params"] == metrics["tuning"]["best_params"]
    assert tuning["inner_auc"] == metrics["tuning"]["inner_auc"]
    assert (tuning["outer_auc_mean"], tuning["outer_auc_std"]) == (
        metrics["cv"]["auc_mean"],
        metrics["cv"]["auc_std"],
    )
    text = model_card_markdown(card)
    cv = metrics["cv"]
    assert f"Nested 2-fold CV AUC: {cv['auc_mean']:.4f} ± {cv['auc_std']:.4f}" in text
    assert "## Tuning" in text and f"best inner AUC {tuning['inner_auc']:.4f}" in text
    assert f"| learning_rate | {tuning['best_params']['learning_rate']:.6f} |" in text


def test_untuned_card_has_no_tuning_section(farmer_model: TrainedModel) -> None:
    card = build_model_card(farmer_model)
    assert card["tuning"] is None
    assert "## Tuning" not in model_card_markdown(card)
