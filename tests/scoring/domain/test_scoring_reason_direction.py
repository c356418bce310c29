"""Reason texts follow the applicant's value: ``low`` below the reference (training median),
``high`` above it; the plain text when missing, equal, or without a reference."""

from __future__ import annotations

import copy

import pytest

from services.scoring.domain.explain import explain_applicant, explain_batch
from services.scoring.domain.matrix import row_to_matrix
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.spec import (
    SegmentSpec,
    SpecError,
    spec_from_dict,
    spec_to_dict,
    validate_features,
)
from services.scoring.repository.specs import load_segment_spec


def test_the_text_follows_the_side_of_the_reference(farmer_spec: SegmentSpec) -> None:
    household = farmer_spec.feature("household_size")
    assert household.reason_text_for(2, 6.0)["en"] == "Small household to share the farm work"
    assert household.reason_text_for(11, 6.0)["en"] == "Large household to support from the farm"
    assert household.reason_text_for(11, 6.0)["zh"] == "需由农业收入供养的家庭人口较多"
    # at the reference, with no reference, or with no value: the plain text, which states no side
    plain = household.reason_text
    assert household.reason_text_for(6, 6.0) == plain
    assert household.reason_text_for(2, None) == plain
    assert household.reason_text_for(None, 6.0) == plain


@pytest.mark.parametrize("segment", ["farmer", "enterprise"])
def test_every_shipped_numeric_feature_has_both_sides_and_adverse_plain_texts(segment: str) -> None:
    spec = load_segment_spec(segment)
    for f in spec.features:
        if f.type == "numeric":
            assert f.reason_spec.low is not None and f.reason_spec.high is not None, f.name
            assert f.reason_spec.low.zh and f.reason_spec.high.zh, f.name
    # the bare labels the issue names are adverse statements now
    names = {"farmer": "household_size", "enterprise": "employees"}
    assert spec.feature(names[segment]).reason_text["en"] not in ("Household size", "Number of employees")


def test_low_and_high_come_together_and_only_on_numeric_features(farmer_spec: SegmentSpec) -> None:
    data = spec_to_dict(farmer_spec)
    one_sided = copy.deepcopy(data)
    next(f for f in one_sided["features"] if f["name"] == "household_size")["reason"].pop("high")
    with pytest.raises(SpecError, match="both low and high"):
        spec_from_dict(one_sided)
    on_boolean = copy.deepcopy(data)
    flag = next(f for f in on_boolean["features"] if f["name"] == "irrigation")
    flag["reason"]["low"] = {"en": "a"}
    flag["reason"]["high"] = {"en": "b"}
    with pytest.raises(SpecError, match="only numeric features"):
        spec_from_dict(on_boolean)
    assert spec_from_dict(data) == farmer_spec  # both sides round-trip


def _with_references(model: TrainedModel, references: dict[str, float]) -> TrainedModel:
    twin = copy.copy(model)
    twin.metadata = {**model.metadata, "reference_values": references}
    return twin


def test_reasons_of_an_applicant_use_the_side_of_their_value(farmer_model: TrainedModel) -> None:
    spec = farmer_model.spec
    base = explain_applicant(farmer_model, spec.example)
    k, reason = next((k, r) for k, r in enumerate(base.reasons) if spec.feature(r.feature).type == "numeric")
    value = spec.example[reason.feature]
    feature = spec.feature(reason.feature)
    below = _with_references(farmer_model, {reason.feature: float(value) + 1.0})
    above = _with_references(farmer_model, {reason.feature: float(value) - 1.0})
    text_below = explain_applicant(below, spec.example).reasons[k]
    text_above = explain_applicant(above, spec.example, lang="zh").reasons[k]
    assert feature.reason_spec.low is not None and feature.reason_spec.high is not None
    assert text_below.text == feature.reason_spec.low.en
    assert text_below.texts == feature.reason_spec.low.by_language()
    assert text_above.text == feature.reason_spec.high.zh
    # the batch path chooses the same texts
    row = row_to_matrix(spec, validate_features(spec, spec.example))
    assert explain_batch(below, row).reasons(0)[k] == text_below


def test_a_model_without_references_shows_the_plain_texts(farmer_model: TrainedModel) -> None:
    bare = _with_references(farmer_model, {})
    assert bare.reference_values == {}
    for reason in explain_applicant(bare, bare.spec.example).reasons:
        assert reason.texts == bare.spec.feature(reason.feature).reason_text
