"""Spec files: the bundled segments' YAML loads and validates; bad spec files are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.scoring.domain.spec import SEGMENTS, SegmentSpec, SpecError, spec_to_dict, validate_features
from services.scoring.repository.specs import load_segment_spec, load_spec


@pytest.mark.parametrize("segment", SEGMENTS)
def test_bundled_specs_load_and_examples_validate(segment: str) -> None:
    spec = load_segment_spec(segment)
    assert spec.segment == segment
    assert spec.target == "default"
    clean = validate_features(spec, spec.example)
    assert set(clean) == set(spec.feature_names)
    for f in spec.features:
        assert f.reason_code and f.reason("en") and f.reason("zh") != f.reason("en")
        assert f.lgbm_monotone == -f.monotone
    codes = [f.reason_code for f in spec.features]
    assert len(set(codes)) == len(codes)


def test_unknown_segment_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        load_segment_spec("bank")


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_bad_spec_files_are_rejected(tmp_path: Path, farmer_spec: SegmentSpec) -> None:
    good = spec_to_dict(farmer_spec)
    assert load_spec(_write(tmp_path, good)) == farmer_spec

    monotone_category = spec_to_dict(farmer_spec)
    monotone_category["features"][1]["monotone"] = 1
    with pytest.raises(SpecError, match="cannot be monotone"):
        load_spec(_write(tmp_path, monotone_category))

    bad_example = spec_to_dict(farmer_spec)
    bad_example["example"]["land_area_ha"] = -3
    with pytest.raises(SpecError, match="example"):
        load_spec(_write(tmp_path, bad_example))

    duplicate = spec_to_dict(farmer_spec)
    duplicate["features"].append(duplicate["features"][0])
    with pytest.raises(SpecError, match="duplicate"):
        load_spec(_write(tmp_path, duplicate))
