"""Every feature, category and unit of scoring's built-in specs has a label people read (and
the Chinese catalogue translates it); anything else reads as its words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.console.domain.feature_labels import (
    CATEGORY_LABELS,
    FEATURE_LABELS,
    UNIT_LABELS,
    category_label,
    feature_label,
    unit_label,
)
from services.console.pages import translations

SPECS = Path(__file__).resolve().parents[3] / "services" / "scoring" / "specs"
SELECT_UNITS = {"category", "flag"}
"""Units a form shows as a select's options, not as words after the bounds."""


def _specs() -> dict[str, dict[str, Any]]:
    specs = {}
    for path in sorted(SPECS.glob("*.yaml")):
        with path.open(encoding="utf-8") as fh:
            spec = yaml.safe_load(fh)
        specs[str(spec["segment"])] = spec
    return specs


SEGMENTS = _specs()


def test_the_built_in_specs_are_found() -> None:
    assert {"farmer", "enterprise"} <= set(SEGMENTS)


@pytest.mark.parametrize("segment", sorted(SEGMENTS))
def test_every_feature_of_a_spec_has_its_own_label(segment: str) -> None:
    names = [str(f["name"]) for f in SEGMENTS[segment]["features"]]
    missing = [n for n in names if n not in FEATURE_LABELS]
    assert not missing, f"{segment}: features without a label: {missing}"
    labels = [feature_label(n) for n in names]
    assert len(set(labels)) == len(labels), f"{segment}: two features share a label"


@pytest.mark.parametrize("segment", sorted(SEGMENTS))
def test_every_category_and_unit_of_a_spec_has_a_label(segment: str) -> None:
    for feature in SEGMENTS[segment]["features"]:
        name = str(feature["name"])
        if feature["type"] == "categorical":
            assert set(CATEGORY_LABELS.get(name, {})) == {str(c) for c in feature["categories"]}, name
        unit = feature.get("unit")
        if unit and unit not in SELECT_UNITS:
            assert unit in UNIT_LABELS, f"{name}: unit {unit!r} has no label"


def test_labels_are_read_from_the_tables() -> None:
    assert feature_label("land_area_ha") == "Land area (hectares)"
    assert category_label("land_tenure", "state_allocated") == "Allocated by the state"
    assert unit_label("USD per month") == "USD per month"


def test_a_name_no_spec_here_knows_reads_as_its_words() -> None:
    assert feature_label("soil_ph_index") == "Soil ph index"
    assert category_label("main_crop", "sugar_cane") == "Sugar cane"
    assert category_label("irrigation_source", "borehole") == "Borehole"
    assert unit_label("litres per day") == "litres per day"


def _all_labels() -> list[str]:
    return [
        *FEATURE_LABELS.values(),
        *(label for values in CATEGORY_LABELS.values() for label in values.values()),
        *UNIT_LABELS.values(),
    ]


def test_no_label_holds_a_percent_sign() -> None:
    # pages translate labels with newstyle gettext, which %-formats every message
    assert [label for label in _all_labels() if "%" in label] == []


def test_the_chinese_catalogue_translates_every_label() -> None:
    zh = translations("zh")
    untranslated = [label for label in _all_labels() if zh.gettext(label) == label]
    assert not untranslated, f"labels without a zh translation (make catalogues): {untranslated}"
