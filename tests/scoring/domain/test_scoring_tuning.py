"""Tuning: Optuna under nested CV, deterministic, monotone constraints kept, explanations exact."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest

from services.scoring.domain.explain import explain_batch
from services.scoring.domain.matrix import frame_to_matrix
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.spec import SegmentSpec, spec_from_dict, spec_to_dict
from services.scoring.domain.synthetic import generate
from services.scoring.domain.training import train_model
from services.scoring.domain.tuning import (
    CATEGORICAL_SPACE,
    SEARCH_SPACE,
    default_trial,
    lightgbm_params,
    nested_cv,
    tune_params,
)

ROWS = 1200
TRIALS = 3


@pytest.fixture(scope="module")
def small_frame() -> pd.DataFrame:
    return generate("farmer", ROWS, 41)


@pytest.fixture(scope="module")
def tuned_run(
    farmer_spec: SegmentSpec, small_frame: pd.DataFrame
) -> tuple[TrainedModel, list[tuple[str, Any]]]:
    events: list[tuple[str, Any]] = []

    def progress(stage: str, info: Mapping[str, Any]) -> None:
        events.append((stage, dict(info)))

    model = train_model(farmer_spec, small_frame, seed=3, tune=TRIALS, cv_folds=3, progress=progress)
    return model, events


def _xy(spec: SegmentSpec, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return frame_to_matrix(spec, frame), frame["default"].to_numpy(dtype=np.float64)


def test_tuning_is_deterministic_and_starts_from_the_defaults(
    farmer_spec: SegmentSpec, small_frame: pd.DataFrame
) -> None:
    x, y = _xy(farmer_spec, small_frame)
    first = tune_params(farmer_spec, x, y, trials=TRIALS, seed=5)
    again = tune_params(farmer_spec, x, y, trials=TRIALS, seed=5)
    assert first == again
    assert 0.5 < first.inner_auc < 1.0 and 1 <= first.num_boost_round <= 1000
    assert set(first.params) == set(SEARCH_SPACE) | set(CATEGORICAL_SPACE)
    only_defaults = tune_params(farmer_spec, x, y, trials=1, seed=5)
    base = lightgbm_params(farmer_spec, seed=5)
    assert only_defaults.params == default_trial(farmer_spec, base)
    assert only_defaults.params["learning_rate"] == base["learning_rate"]


def test_fixed_and_categorical_parameters(farmer_spec: SegmentSpec, small_frame: pd.DataFrame) -> None:
    x, y = _xy(farmer_spec, small_frame)
    result = tune_params(farmer_spec, x, y, trials=2, seed=1, fixed=("learning_rate", "num_leaves"))
    assert "learning_rate" not in result.params and "num_leaves" not in result.params
    numeric_only = spec_to_dict(farmer_spec)
    numeric_only["features"] = [f for f in numeric_only["features"] if f["type"] != "categorical"]
    numeric_only["example"] = {}
    spec = spec_from_dict(numeric_only)
    keep = [j for j, f in enumerate(farmer_spec.features) if f.type != "categorical"]
    plain = tune_params(spec, x[:, keep], y, trials=2, seed=1)
    assert set(plain.params) == set(SEARCH_SPACE)


def test_nested_cv_reports_outer_folds_and_progress(
    farmer_spec: SegmentSpec, small_frame: pd.DataFrame
) -> None:
    x, y = _xy(farmer_spec, small_frame)
    seen: list[tuple[str, dict[str, Any]]] = []
    cv = nested_cv(
        farmer_spec, x, y, trials=2, outer_folds=3, inner_folds=2, seed=2,
        progress=lambda stage, info: seen.append((stage, dict(info))),
    )  # fmt: skip
    assert cv["nested"] is True and cv["folds"] == 3 and cv["inner_folds"] == 2 and cv["trials"] == 2
    assert len(cv["auc"]) == 3 and all(0.5 < a < 1.0 for a in cv["auc"])
    assert cv["auc_mean"] == pytest.approx(np.mean(cv["auc"])) and cv["auc_std"] == pytest.approx(
        np.std(cv["auc"])
    )
    assert {stage for stage, _ in seen} == {"cross-validating"}
    trials = [(i["fold"], i["trial"]) for _, i in seen if "trial" in i]
    assert trials == [(f, t) for f in (1, 2, 3) for t in (1, 2)]


def test_train_model_with_tune_reports_nested_cv_and_tuning(
    farmer_spec: SegmentSpec, tuned_run: tuple[TrainedModel, list[tuple[str, Any]]]
) -> None:
    model, _ = tuned_run
    metrics = model.metadata["metrics"]
    cv = metrics["cv"]
    assert {"folds", "auc", "auc_mean", "auc_std", "nested", "inner_folds", "trials"} <= set(cv)
    assert cv["nested"] is True and cv["folds"] == 3 and len(cv["auc"]) == 3 and cv["trials"] == TRIALS
    tuning = metrics["tuning"]
    assert tuning["trials"] == TRIALS and 0.5 < tuning["inner_auc"] < 1.0
    params = model.metadata["params"]
    assert all(params[name] == value for name, value in tuning["best_params"].items())
    # the tuned model trains for the rounds the inner folds chose (no early stopping on one split)
    assert model.metadata["best_iteration"] == tuning["num_boost_round"] == model.booster.current_iteration()
    assert params["monotone_constraints"] == farmer_spec.monotone_constraints
    assert "optuna" in model.metadata["library_versions"]


def test_progress_stages_come_in_order(tuned_run: tuple[TrainedModel, list[tuple[str, Any]]]) -> None:
    model, events = tuned_run
    stages = list(dict.fromkeys(stage for stage, _ in events))
    assert stages == [
        "checking",
        "tuning",
        "cross-validating",
        "training",
        "calibrating",
        "explaining",
        "done",
    ]
    tuning = [i for s, i in events if s == "tuning" and i["trial"] > 0]
    assert [i["trial"] for i in tuning] == list(range(1, TRIALS + 1))
    assert all(i["trials"] == TRIALS for i in tuning)
    best = [i["best_auc"] for i in tuning]
    assert best == sorted(best)
    rounds = [i["round"] for s, i in events if s == "training"]
    assert rounds[0] == 0 and len(rounds) >= 3
    assert rounds[1:-1] == list(range(10, rounds[-1] + 1, 10))  # every 10 rounds from the callback
    assert rounds[-1] == model.booster.current_iteration()  # and once at the end


def test_tuned_model_keeps_monotone_constraints(
    tuned_run: tuple[TrainedModel, list[tuple[str, Any]]],
) -> None:
    model, _ = tuned_run
    x = frame_to_matrix(model.spec, generate("farmer", 150, 12))
    for j, f in enumerate(model.spec.features):
        if f.monotone == 0:
            continue
        present = ~np.isnan(x[:, j])
        lo, hi = float(f.min if f.min is not None else 0.0), float(f.max if f.max is not None else 1.0)
        previous = model.scores(x)
        for t in (0.05, 0.2, 0.5, 1.0):
            moved = x.copy()
            good_end = hi if f.monotone > 0 else lo
            moved[present, j] = x[present, j] + t * (good_end - x[present, j])
            scores = model.scores(moved)
            assert np.all(scores[present] >= previous[present] - 1e-9), f.name
            previous = scores


def test_tuned_explanations_stay_exact_with_categoricals(
    tuned_run: tuple[TrainedModel, list[tuple[str, Any]]],
) -> None:
    model, _ = tuned_run
    trees = model.booster.dump_model()["tree_info"]
    assert sum(tree["num_cat"] for tree in trees) > 0  # categorical splits are in the model
    x = frame_to_matrix(model.spec, generate("farmer", 500, 77))
    batch = explain_batch(model, x)
    np.testing.assert_allclose(batch.base_points + batch.points.sum(axis=1), batch.score, atol=1e-6)
    np.testing.assert_allclose(batch.score, model.scores(x), atol=1e-6)


def test_tuned_training_is_deterministic(farmer_spec: SegmentSpec) -> None:
    frame = generate("farmer", 600, 8)
    first = train_model(farmer_spec, frame, seed=4, tune=2, cv_folds=2)
    second = train_model(farmer_spec, frame.copy(), seed=4, tune=2, cv_folds=2)
    assert first.model_text == second.model_text and first.metadata_json() == second.metadata_json()


def test_explicit_params_are_not_tuned(farmer_spec: SegmentSpec) -> None:
    frame = generate("farmer", 600, 9)
    model = train_model(farmer_spec, frame, seed=1, tune=2, cv_folds=2, params={"learning_rate": 0.05})
    assert model.metadata["params"]["learning_rate"] == 0.05
    assert "learning_rate" not in model.metadata["metrics"]["tuning"]["best_params"]
