"""Training: determinism, artifact round trip, metrics, calibration."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from services.scoring.domain.matrix import frame_to_matrix
from services.scoring.domain.metrics import (
    auc,
    brier,
    calibration_table,
    fit_platt,
    ks_statistic,
)
from services.scoring.domain.model import (
    METADATA_FORMAT,
    ArtifactIntegrityError,
    TrainedModel,
    load_model,
)
from services.scoring.domain.spec import SegmentSpec
from services.scoring.domain.synthetic import generate
from services.scoring.domain.training import (
    TrainingDataError,
    data_fingerprint,
    stratified_split,
    train_model,
)


def test_same_seed_same_artifact_other_seed_other_artifact(enterprise_spec: SegmentSpec) -> None:
    frame = generate("enterprise", 4000, 21)
    first = train_model(enterprise_spec, frame, seed=1)
    second = train_model(enterprise_spec, frame.copy(), seed=1)
    assert first.artifact_sha256 == second.artifact_sha256
    assert first.model_text == second.model_text
    assert first.metadata_json() == second.metadata_json()
    third = train_model(enterprise_spec, frame, seed=2)
    assert third.artifact_sha256 != first.artifact_sha256


def test_metadata_is_strict_json_and_complete(farmer_model: TrainedModel) -> None:
    meta = json.loads(json.dumps(farmer_model.metadata, allow_nan=False))
    assert meta["format"] == METADATA_FORMAT
    assert meta["artifact_sha256"] == farmer_model.artifact_sha256
    assert meta["params"]["deterministic"] is True
    assert meta["params"]["monotone_constraints"] == farmer_model.spec.monotone_constraints
    assert meta["data"]["rows"] == 8000
    assert len(meta["data"]["fingerprint"]) == 64
    assert set(meta["global_importance"]) == set(farmer_model.spec.feature_names)
    assert set(meta["baseline"]["features"]) == set(farmer_model.spec.feature_names)
    assert len(meta["metrics"]["test"]["calibration"]) == 10
    cv = meta["metrics"]["cv"]
    assert cv["folds"] == 3 and len(cv["auc"]) == 3 and cv["auc_std"] >= 0


def test_round_trip_through_text_and_metadata(farmer_model: TrainedModel) -> None:
    loaded = load_model(farmer_model.model_text, farmer_model.metadata_json())
    x = frame_to_matrix(farmer_model.spec, generate("farmer", 300, 77))
    np.testing.assert_array_equal(loaded.scores(x), farmer_model.scores(x))
    assert loaded.artifact_sha256 == farmer_model.artifact_sha256


def test_tampered_model_text_is_refused(farmer_model: TrainedModel) -> None:
    tampered = farmer_model.model_text.replace("learning_rate: 0.1", "learning_rate: 0.7")
    assert tampered != farmer_model.model_text
    with pytest.raises(ArtifactIntegrityError):
        load_model(tampered, farmer_model.metadata)


def test_discrimination_and_calibration_are_sane(model: TrainedModel) -> None:
    test = model.metadata["metrics"]["test"]
    assert test["auc"] > 0.68
    assert test["gini"] == pytest.approx(2 * test["auc"] - 1)
    assert 0.2 < test["ks"] < 0.7
    assert test["brier"] < test["default_rate"] * (1 - test["default_rate"])  # beats the mean
    assert abs(test["mean_pd"] - test["default_rate"]) < 0.02
    rows = test["calibration"]
    assert sum(r["count"] for r in rows) == test["rows"]
    mean_pds = [r["mean_pd"] for r in rows]
    assert mean_pds == sorted(mean_pds)
    assert rows[-1]["observed_default_rate"] > 3 * rows[0]["observed_default_rate"]
    assert 0.5 < model.calibration_a < 1.5


def test_fresh_sample_pd_matches_default_rate(farmer_model: TrainedModel) -> None:
    frame = generate("farmer", 20_000, 123)
    pd_ = farmer_model.predict_pd(frame_to_matrix(farmer_model.spec, frame))
    assert abs(float(pd_.mean()) - float(frame["default"].mean())) < 0.015


def test_fingerprint_tracks_the_data(farmer_spec: SegmentSpec, farmer_frame: pd.DataFrame) -> None:
    x = frame_to_matrix(farmer_spec, farmer_frame)
    y = farmer_frame["default"].to_numpy(dtype=np.float64)
    assert data_fingerprint(farmer_spec, x, y) == data_fingerprint(farmer_spec, x.copy(), y)
    x2 = x.copy()
    x2[0, 0] += 0.01
    assert data_fingerprint(farmer_spec, x2, y) != data_fingerprint(farmer_spec, x, y)


def test_bad_target_is_refused(farmer_spec: SegmentSpec, farmer_frame: pd.DataFrame) -> None:
    with pytest.raises(TrainingDataError, match="missing"):
        train_model(farmer_spec, farmer_frame.drop(columns=["default"]))
    with pytest.raises(TrainingDataError, match="0/1"):
        train_model(farmer_spec, farmer_frame.assign(default=2))


def test_metric_functions_on_known_cases() -> None:
    y = np.array([0, 0, 1, 1], dtype=np.float64)
    assert auc(y, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == pytest.approx(0.5)
    assert ks_statistic(y, np.array([0.1, 0.2, 0.3, 0.4])) == pytest.approx(1.0)
    assert brier(y, np.array([0.0, 0.0, 1.0, 1.0])) == 0.0
    assert math.isnan(auc(np.zeros(3), np.arange(3.0)))
    table = calibration_table(np.zeros(25), np.linspace(0, 1, 25), bins=10)
    assert [r["count"] for r in table] == [3, 3, 3, 3, 3, 2, 2, 2, 2, 2]


def test_platt_recovers_known_parameters() -> None:
    rng = np.random.default_rng(0)
    margin = rng.normal(-2.0, 1.2, 200_000)
    y = (rng.random(margin.size) < 1 / (1 + np.exp(-(0.8 * margin + 0.3)))).astype(np.float64)
    a, b = fit_platt(margin, y)
    assert a == pytest.approx(0.8, abs=0.03)
    assert b == pytest.approx(0.3, abs=0.06)
    assert fit_platt(margin, y) == (a, b)


def test_reference_values_are_the_training_medians(
    farmer_model: TrainedModel, farmer_frame: pd.DataFrame
) -> None:
    spec = farmer_model.spec
    references = farmer_model.reference_values
    assert references == farmer_model.metadata["reference_values"]
    assert set(references) == {f.name for f in spec.features if f.type == "numeric"}
    train_idx, _, _ = stratified_split(
        farmer_frame["default"].to_numpy(dtype=np.float64), farmer_model.metadata["seed"], 0.2, 0.2
    )
    rows = farmer_frame.iloc[train_idx]
    for name, value in references.items():
        assert value == pytest.approx(float(rows[name].median(skipna=True)))
    old = load_model(farmer_model.model_text, {**farmer_model.metadata, "reference_values": None})
    assert old.reference_values == {}
    legacy = {k: v for k, v in farmer_model.metadata.items() if k != "reference_values"}
    assert load_model(farmer_model.model_text, legacy).reference_values == {}


def test_a_feature_without_any_value_has_no_reference(farmer_spec: SegmentSpec) -> None:
    frame = generate("farmer", 400, 3).assign(off_farm_income_monthly=np.nan)
    model = train_model(farmer_spec, frame, seed=1, num_boost_round=30)
    assert "off_farm_income_monthly" not in model.reference_values
    assert "land_area_ha" in model.reference_values


def test_bad_data_errors_name_column_and_rows(farmer_spec: SegmentSpec, farmer_frame: pd.DataFrame) -> None:
    frame = farmer_frame.head(500).copy()
    frame.loc[[2, 16, 239], "land_area_ha"] = 501.0
    with pytest.raises(TrainingDataError) as info:
        train_model(farmer_spec, frame)
    assert str(info.value) == "column land_area_ha: values above the maximum 500 in rows 3, 17, 240"
    assert info.value.column == "land_area_ha" and info.value.rows == [3, 17, 240]


def test_text_target_trains_with_its_bad_value(farmer_spec: SegmentSpec) -> None:
    frame = generate("farmer", 600, 12)
    words = frame.assign(default=np.where(frame["default"] == 1, "bad", "good"))
    by_words = train_model(farmer_spec, words, seed=2, bad_value="bad", num_boost_round=40)
    by_codes = train_model(farmer_spec, frame, seed=2, num_boost_round=40)
    assert by_words.model_text == by_codes.model_text
    assert by_words.metadata["bad_value"] == "bad" and "bad_value" not in by_codes.metadata


def test_untuned_progress_and_cross_validation(farmer_spec: SegmentSpec) -> None:
    seen: list[tuple[str, dict[str, object]]] = []
    model = train_model(
        farmer_spec, generate("farmer", 800, 4), seed=1, cv_folds=3,
        progress=lambda stage, info: seen.append((stage, dict(info))),
    )  # fmt: skip
    stages = list(dict.fromkeys(stage for stage, _ in seen))
    assert stages == ["checking", "training", "cross-validating", "calibrating", "explaining", "done"]
    assert seen[-1] == ("done", {"best_iteration": model.metadata["best_iteration"]})
    cv = model.metadata["metrics"]["cv"]
    assert "nested" not in cv and cv["folds"] == 3 and "tuning" not in model.metadata["metrics"]


def test_helpers_other_training_paths_import() -> None:
    from services.scoring.domain import training

    for name in ("_dataset", "stratified_split", "stratified_folds", "library_versions", "data_fingerprint"):
        assert callable(getattr(training, name))
    assert training.DEFAULT_PARAMS["deterministic"] is True
