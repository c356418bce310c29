"""Feature sources as a caller states them: checked against the spec and the features, completed."""

from __future__ import annotations

from services.scoring.domain.provenance import complete_sources, source_problems
from services.scoring.domain.spec import SegmentSpec

FEATURES = {"land_area_ha": 2.5, "marketplace_orders_12m": 7, "marketplace_dispute_rate": None}


def test_every_feature_of_the_spec_gets_a_source(farmer_spec: SegmentSpec) -> None:
    stated = {"marketplace_orders_12m": "marketplace", "marketplace_dispute_rate": "default"}
    assert source_problems(farmer_spec, FEATURES, stated) == []
    sources = complete_sources(farmer_spec, FEATURES, stated)
    assert list(sources) == [f.name for f in farmer_spec.features]
    assert sources["land_area_ha"] == "applicant"  # unstated, with a value
    assert sources["marketplace_orders_12m"] == "marketplace"
    assert sources["marketplace_dispute_rate"] == "default"
    assert sources["yield_variability_cv"] == "default"  # unstated, no value
    assert complete_sources(farmer_spec, {"land_area_ha": float("nan")}, {})["land_area_ha"] == "default"


def test_unknown_names_other_words_and_contradictions_are_refused(farmer_spec: SegmentSpec) -> None:
    stated = {
        "shoe_size": "applicant",
        "land_area_ha": "guess",
        "marketplace_orders_12m": "default",
        "marketplace_dispute_rate": "marketplace",
        "yield_variability_cv": "applicant",
    }
    assert source_problems(farmer_spec, FEATURES, stated) == [
        ("feature_sources.shoe_size", "is not a feature of segment 'farmer'"),
        ("feature_sources.land_area_ha", "must be one of applicant, marketplace, default"),
        ("feature_sources.marketplace_orders_12m", "is default but the feature has a value"),
        ("feature_sources.marketplace_dispute_rate", "is marketplace but the feature has no value"),
        ("feature_sources.yield_variability_cv", "is applicant but the feature has no value"),
    ]


def test_an_unknown_feature_sent_with_its_source_is_refused_once(farmer_spec: SegmentSpec) -> None:
    """``features.shoe_size`` is refused as an unknown feature; its source adds no second problem."""
    assert source_problems(farmer_spec, {**FEATURES, "shoe_size": 42}, {"shoe_size": "applicant"}) == []
