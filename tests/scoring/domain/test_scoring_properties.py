"""Property tests: any valid applicant validates, explains additively, and in range."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.scoring.domain.explain import explain_applicant
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.spec import FeatureSpec
from services.scoring.repository.specs import load_segment_spec

FARMER = load_segment_spec("farmer")


def _value(f: FeatureSpec) -> st.SearchStrategy[Any]:
    if f.type == "categorical":
        base: st.SearchStrategy[Any] = st.sampled_from(f.categories)
    elif f.type == "boolean":
        base = st.booleans()
    else:
        base = st.floats(min_value=f.min, max_value=f.max, allow_nan=False)
    return st.one_of(st.none(), base) if f.missing_allowed else base


applicants = st.fixed_dictionaries({f.name: _value(f) for f in FARMER.features})


@settings(max_examples=150, deadline=None)
@given(features=applicants)
def test_any_valid_applicant_is_explained_exactly(
    farmer_model: TrainedModel, features: dict[str, Any]
) -> None:
    explanation = explain_applicant(farmer_model, features)
    total = explanation.base_points + sum(explanation.points.values())
    assert abs(total - explanation.score) < 1e-6
    assert 0.0 < explanation.pd < 1.0
    assert explanation.grade in "ABCDE"
    assert len(explanation.reasons) <= 4
    assert all(r.points < 0 for r in explanation.reasons)
