"""Feature specs: loading, validation errors, model matrix encoding."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from services.scoring.domain.matrix import frame_to_matrix, row_to_matrix, rows_to_matrix
from services.scoring.domain.spec import (
    FeatureValidationError,
    SegmentSpec,
    SpecError,
    spec_from_dict,
    spec_to_dict,
    validate_features,
)


def _errors(spec: SegmentSpec, features: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(FeatureValidationError) as info:
        validate_features(spec, features)
    assert str(info.value)
    return dict(info.value.errors)


def test_spec_round_trips_through_dict(farmer_spec: SegmentSpec) -> None:
    assert spec_from_dict(spec_to_dict(farmer_spec)) == farmer_spec


def test_unknown_feature(farmer_spec: SegmentSpec) -> None:
    errors = _errors(farmer_spec, {**farmer_spec.example, "shoe_size": 42})
    assert errors == {"features.shoe_size": "unknown feature"}


def test_wrong_types(farmer_spec: SegmentSpec) -> None:
    bad = {**farmer_spec.example, "land_area_ha": "big", "irrigation": 1, "main_crop": 3}
    errors = _errors(farmer_spec, bad)
    assert errors["features.land_area_ha"] == "must be a number"
    assert errors["features.irrigation"] == "must be a boolean"
    assert errors["features.main_crop"] == "must be a string category"
    assert "features.years_farming" not in errors


def test_booleans_are_not_numbers(farmer_spec: SegmentSpec) -> None:
    errors = _errors(farmer_spec, {**farmer_spec.example, "years_farming": True})
    assert errors == {"features.years_farming": "must be a number"}


def test_out_of_range(farmer_spec: SegmentSpec) -> None:
    bad = {**farmer_spec.example, "on_time_repayment_rate": 1.5, "land_area_ha": -1.0}
    errors = _errors(farmer_spec, bad)
    assert errors["features.on_time_repayment_rate"].startswith("must be <= 1")
    assert errors["features.land_area_ha"].startswith("must be >= 0")


def test_infinite_is_rejected(farmer_spec: SegmentSpec) -> None:
    errors = _errors(farmer_spec, {**farmer_spec.example, "distance_to_market_km": math.inf})
    assert errors == {"features.distance_to_market_km": "must be finite"}


def test_unknown_category(farmer_spec: SegmentSpec) -> None:
    errors = _errors(farmer_spec, {**farmer_spec.example, "land_tenure": "rented-ish"})
    assert errors["features.land_tenure"].startswith("unknown category 'rented-ish'")


def test_missing_where_not_allowed(farmer_spec: SegmentSpec) -> None:
    features = dict(farmer_spec.example)
    del features["land_area_ha"]
    features["household_size"] = None
    errors = _errors(farmer_spec, features)
    assert set(errors) == {"features.land_area_ha", "features.household_size"}
    assert "missing not allowed" in errors["features.land_area_ha"]


def test_missing_where_allowed_becomes_none_then_nan(farmer_spec: SegmentSpec) -> None:
    features = dict(farmer_spec.example)
    del features["on_time_repayment_rate"]
    features["rainfall_anomaly_pct"] = float("nan")
    clean = validate_features(farmer_spec, features)
    assert clean["on_time_repayment_rate"] is None
    assert clean["rainfall_anomaly_pct"] is None
    row = row_to_matrix(farmer_spec, clean)
    j = farmer_spec.feature_names.index("on_time_repayment_rate")
    assert np.isnan(row[0, j])


def test_all_errors_reported_together(enterprise_spec: SegmentSpec) -> None:
    errors = _errors(enterprise_spec, {"x": 1, "enterprise_type": "bank", "current_ratio": -2})
    assert "features.x" in errors
    assert "features.enterprise_type" in errors
    assert "features.current_ratio" in errors
    assert "features.years_operating" in errors


def test_row_matrix_encodes_categories_by_spec_order(farmer_spec: SegmentSpec) -> None:
    clean = validate_features(farmer_spec, {**farmer_spec.example, "main_crop": "tea"})
    row = row_to_matrix(farmer_spec, clean)
    assert row.shape == (1, len(farmer_spec.features))
    assert row.dtype == np.float64
    crop = farmer_spec.feature("main_crop")
    assert row[0, farmer_spec.feature_names.index("main_crop")] == crop.categories.index("tea")
    assert row[0, farmer_spec.feature_names.index("irrigation")] == 0.0


def test_frame_and_row_paths_agree(farmer_spec: SegmentSpec, farmer_frame: pd.DataFrame) -> None:
    head = farmer_frame.head(50)
    from_frame = frame_to_matrix(farmer_spec, head)
    records = head[farmer_spec.feature_names].astype(object).to_dict("records")
    cleaned = [
        validate_features(farmer_spec, {str(k): v for k, v in r.items() if not pd.isna(v)}) for r in records
    ]
    np.testing.assert_array_equal(rows_to_matrix(farmer_spec, cleaned), from_frame)
    # plain string columns (e.g. read from CSV) encode like categoricals
    as_strings = head.astype({"land_tenure": str, "main_crop": str})
    np.testing.assert_array_equal(frame_to_matrix(farmer_spec, as_strings), from_frame)


def test_frame_validation_reports_columns(farmer_spec: SegmentSpec, farmer_frame: pd.DataFrame) -> None:
    frame = farmer_frame.head(20).copy()
    frame = frame.astype({"main_crop": object})
    frame.loc[0, "main_crop"] = "durian"
    frame.loc[1, "land_area_ha"] = 9999.0
    frame.loc[2, "years_farming"] = np.nan
    frame = frame.drop(columns=["household_size"])
    with pytest.raises(FeatureValidationError) as info:
        frame_to_matrix(farmer_spec, frame)
    fields = {field for field, _ in info.value.errors}
    assert fields == {
        "features.main_crop",
        "features.land_area_ha",
        "features.years_farming",
        "features.household_size",
    }
    loose = frame_to_matrix(farmer_spec, frame.assign(household_size=3.0), strict=False)
    assert np.isnan(loose[0, farmer_spec.feature_names.index("main_crop")])


def test_spec_errors_name_the_field(farmer_spec: SegmentSpec) -> None:
    no_code = spec_to_dict(farmer_spec)
    del no_code["features"][3]["reason"]["code"]
    with pytest.raises(SpecError, match=r"features\[3\]\.reason\.code"):
        spec_from_dict(no_code)

    bad_type = spec_to_dict(farmer_spec)
    bad_type["features"][0]["type"] = "ordinal"
    bad_type["features"][2]["monotone"] = 2
    with pytest.raises(SpecError) as info:
        spec_from_dict(bad_type)
    assert "features[0].type" in str(info.value) and "features[2].monotone" in str(info.value)

    inverted = spec_to_dict(farmer_spec)
    inverted["features"][0].update(min=5.0, max=1.0)
    with pytest.raises(SpecError, match=r"features\[0\]: min > max"):
        spec_from_dict(inverted)

    with pytest.raises(SpecError, match="features"):
        spec_from_dict({"segment": "x"})
