"""PSI against the training baseline, and adverse impact ratio."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.scoring.domain.matrix import frame_to_matrix
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.monitoring import (
    adverse_impact_ratio,
    bin_labels,
    model_stability,
    numeric_ratios,
    psi,
    psi_band,
)
from services.scoring.domain.synthetic import generate


def test_psi_basics() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert psi([0.5, 0.5, 0.0], [0.5, 0.0, 0.5]) > 1.0  # empty bins: finite thanks to epsilon
    assert math.isfinite(psi([1.0, 0.0], [0.0, 1.0]))
    assert [psi_band(v) for v in (0.0, 0.099, 0.1, 0.249, 0.25, 3.0)] == [
        "stable",
        "stable",
        "moderate",
        "moderate",
        "significant",
        "significant",
    ]
    with pytest.raises(ValueError, match="same number"):
        psi([1.0], [0.5, 0.5])


def test_numeric_ratios_include_missing_bin() -> None:
    values = np.array([0.0, 1.0, 2.0, 3.0, np.nan])
    assert numeric_ratios(values, [1.0, 2.0]) == [0.4, 0.2, 0.2, 0.2]


def test_unshifted_sample_is_stable(farmer_model: TrainedModel) -> None:
    x = frame_to_matrix(farmer_model.spec, generate("farmer", 10_000, 999))
    report = model_stability(farmer_model, x)
    assert report["rows"] == 10_000
    assert report["score"]["psi"] < 0.1
    assert report["score"]["band"] == "stable"
    assert all(v["band"] == "stable" for v in report["features"].values())


def test_shifted_sample_is_flagged(farmer_model: TrainedModel) -> None:
    frame = generate("farmer", 10_000, 999)
    frame["on_time_repayment_rate"] = frame["on_time_repayment_rate"] * 0.5
    frame["land_area_ha"] = (frame["land_area_ha"] * 4).clip(upper=500)
    frame["coop_member"] = False
    frame["irrigation"] = False
    frame["years_farming"] = 1.0
    report = model_stability(farmer_model, frame_to_matrix(farmer_model.spec, frame))
    assert report["score"]["psi"] > 0.25
    assert report["score"]["band"] == "significant"
    assert report["features"]["land_area_ha"]["psi"] > 0.25
    assert report["features"]["coop_member"]["band"] == "significant"
    assert report["features"]["household_size"]["band"] == "stable"


def test_adverse_impact_ratio() -> None:
    approved = [True] * 8 + [False] * 2 + [True] * 5 + [False] * 5
    groups = ["north"] * 10 + ["south"] * 10
    result = adverse_impact_ratio(approved, groups)
    assert result.rates == {"north": 0.8, "south": 0.5}
    assert result.counts == {"north": 10, "south": 10}
    assert result.ratio == pytest.approx(0.625)
    assert result.flagged
    fair = adverse_impact_ratio([True, False, True, False], ["a", "a", "b", "b"])
    assert fair.ratio == 1.0 and not fair.flagged
    assert fair.to_dict()["threshold"] == 0.8


def test_every_entry_carries_the_bins_to_chart(farmer_model: TrainedModel) -> None:
    frame = generate("farmer", 2_000, 31)
    report = model_stability(farmer_model, frame_to_matrix(farmer_model.spec, frame))
    entries = {"score": report["score"], **report["features"]}
    for name, entry in entries.items():
        bins = entry["bins"]
        if entry["kind"] == "numeric":
            assert len(bins) == len(entry["edges"]) + 2, name  # ≤ e0, …, > ek, missing
            assert bins[0]["label"] == f"≤ {entry['edges'][0]:g}" and bins[-2]["label"].startswith(">")
        else:
            assert [b["label"] for b in bins] == [*entry["categories"], "missing"], name
        assert bins[-1]["label"] == "missing"
        assert math.fsum(b["expected"] for b in bins) == pytest.approx(1.0)
        assert math.fsum(b["actual"] for b in bins) == pytest.approx(1.0)
        recomputed = psi([b["expected"] for b in bins], [b["actual"] for b in bins])
        assert recomputed == entry["psi"] and entry["band"] == psi_band(entry["psi"])
    assert report["features"]["irrigation"]["categories"] == ["false", "true"]
    missing = report["features"]["on_time_repayment_rate"]["bins"][-1]["actual"]
    assert missing == pytest.approx(frame["on_time_repayment_rate"].isna().mean())


def test_bin_labels() -> None:
    assert bin_labels({"kind": "numeric", "edges": [1.5, 20.0]}) == ["≤ 1.5", "1.5 – 20", "> 20", "missing"]
    assert bin_labels({"kind": "numeric", "edges": []}) == ["all", "missing"]
    assert bin_labels({"kind": "categorical", "categories": ["a", "b"]}) == ["a", "b", "missing"]
