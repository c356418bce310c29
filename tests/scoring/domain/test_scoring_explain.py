"""Explanations: exact additivity, reasons, monotonicity, score scale and grades."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.scoring.domain.explain import (
    GRADE_CUTOFFS,
    MAX_REASONS,
    ScoreScale,
    explain,
    explain_applicant,
    explain_batch,
    grade_for,
)
from services.scoring.domain.matrix import frame_to_matrix
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.scale import sigmoid_scalar
from services.scoring.domain.spec import Matrix, SegmentSpec
from services.scoring.domain.synthetic import generate


def random_applicants(spec: SegmentSpec, n: int, seed: int) -> Matrix:
    """Applicants drawn uniformly (log-uniform for wide ranges) over the spec, with missing."""
    rng = np.random.default_rng(seed)
    x = np.empty((n, len(spec.features)), dtype=np.float64)
    for j, f in enumerate(spec.features):
        if f.type == "categorical":
            x[:, j] = rng.integers(0, len(f.categories), n)
        elif f.type == "boolean":
            x[:, j] = rng.integers(0, 2, n)
        else:
            lo, hi = float(f.min or 0.0), float(f.max or 1.0)
            if lo >= 0 and hi > 1000:
                x[:, j] = np.expm1(rng.uniform(0, math.log1p(hi), n))
            else:
                x[:, j] = rng.uniform(lo, hi, n)
        if f.missing_allowed:
            x[rng.random(n) < 0.15, j] = np.nan
    return x


def applicants(model: TrainedModel, n: int, seed: int) -> Matrix:
    realistic = frame_to_matrix(model.spec, generate(model.segment, n, seed))
    return np.vstack([realistic, random_applicants(model.spec, n, seed)])


def test_score_scale_anchors() -> None:
    scale = ScoreScale()
    assert scale.score(math.log(1 / 50)) == pytest.approx(600.0)
    assert scale.score(math.log(1 / 100)) == pytest.approx(620.0)  # doubled good odds: +PDO
    assert scale.factor == pytest.approx(20 / math.log(2))
    assert scale.margin(scale.score(-1.234)) == pytest.approx(-1.234)
    # the PDs docs/scoring.md quotes at the decision-hint thresholds (580 and 520 points)
    assert sigmoid_scalar(scale.margin(580.0)) == pytest.approx(0.038, abs=5e-4)
    assert sigmoid_scalar(scale.margin(520.0)) == pytest.approx(0.24, abs=5e-3)


def test_grades() -> None:
    assert [grade_for(s) for s in (700, 600, 599.99, 570, 540, 510, 509.9, 0)] == list("AABBCDEE")
    assert [g for g, _ in GRADE_CUTOFFS] == ["A", "B", "C", "D"]


def test_batch_additivity_on_many_applicants(model: TrainedModel) -> None:
    x = applicants(model, 2000, 31)
    batch = explain_batch(model, x)
    np.testing.assert_allclose(batch.base_points + batch.points.sum(axis=1), batch.score, atol=1e-6)
    np.testing.assert_allclose(batch.score, model.scores(x), atol=1e-6)
    np.testing.assert_allclose(batch.pd, model.predict_pd(x), rtol=1e-9)
    np.testing.assert_allclose(batch.base_points, model.metadata["base_points"], atol=1e-9)
    expected_grades = [grade_for(float(s)) for s in batch.score]
    assert batch.grades.tolist() == expected_grades


def test_single_applicant_path_matches_batch(model: TrainedModel) -> None:
    frame = generate(model.segment, 60, 8)
    x = frame_to_matrix(model.spec, frame)
    batch = explain(model, x)
    for i, record in enumerate(frame[model.spec.feature_names].astype(object).to_dict("records")):
        features = {str(k): v for k, v in record.items() if not (isinstance(v, float) and np.isnan(v))}
        single = explain_applicant(model, features)
        assert single.score == pytest.approx(single.base_points + sum(single.points.values()))
        assert single.score == pytest.approx(batch[i].score, abs=1e-9)
        assert single.points == pytest.approx(batch[i].points, abs=1e-9)
        assert [r.feature for r in single.reasons] == [r.feature for r in batch[i].reasons]
        assert single.grade == batch[i].grade


def test_reasons_are_the_costliest_negative_features(model: TrainedModel) -> None:
    x = applicants(model, 300, 4)
    batch = explain_batch(model, x)
    for i in range(len(batch)):
        reasons = batch.reasons(i)
        negatives = sorted(p for p in batch.points[i] if p < 0)
        assert [r.points for r in reasons] == negatives[:MAX_REASONS]
        references = model.reference_values
        for r in reasons:
            f = model.spec.feature(r.feature)
            texts = f.reason_text_for(
                float(x[i, model.spec.feature_names.index(r.feature)]), references.get(f.name)
            )
            assert (r.code, r.text, dict(r.texts)) == (f.reason_code, texts["en"], texts)


def test_reasons_in_chinese(farmer_model: TrainedModel) -> None:
    features = dict(farmer_model.spec.example)
    features.update(coop_member=False, on_time_repayment_rate=0.4, yield_variability_cv=1.5)
    explanation = explain_applicant(farmer_model, features, lang="zh")
    assert explanation.reasons
    references = farmer_model.reference_values
    texts = {
        farmer_model.spec.feature(r.feature).reason_text_for(features[r.feature], references.get(r.feature))[
            "zh"
        ]
        for r in explanation.reasons
    }
    assert {r.text for r in explanation.reasons} == texts
    # the example's repayment rate, far below the training median, takes the "low" text
    assert "以往还款未能始终按时" in {r.text for r in explanation.reasons}
    assert explanation.to_dict()["reasons"][0]["code"].startswith("F")


def test_monotone_features_never_lower_the_score_in_their_good_direction(
    model: TrainedModel,
) -> None:
    x = applicants(model, 150, 12)
    base = model.scores(x)
    for j, f in enumerate(model.spec.features):
        if f.monotone == 0:
            continue
        present = ~np.isnan(x[:, j])
        lo, hi = float(f.min if f.min is not None else 0.0), float(f.max if f.max is not None else 1.0)
        previous = base
        # move each applicant's value step by step towards the "good" end of the range
        for t in (0.02, 0.1, 0.3, 0.6, 1.0):
            moved = x.copy()
            target = hi if f.monotone > 0 else lo
            moved[present, j] = x[present, j] + t * (target - x[present, j])
            scores = model.scores(moved)
            assert np.all(scores[present] >= previous[present] - 1e-9), f.name
            previous = scores


def test_wrong_matrix_shape_is_refused(farmer_model: TrainedModel) -> None:
    with pytest.raises(ValueError, match="matrix must be"):
        explain_batch(farmer_model, np.zeros((2, 3)))
