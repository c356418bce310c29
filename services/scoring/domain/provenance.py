"""Where each feature of a decision came from, as the caller states it (pure).

A caller (loans) may say, per feature of the segment's spec, where its value came from:
``applicant`` (the applicant gave it), ``marketplace`` (filled from escrow's trade summary) or
``default`` (omitted: the model's missing value). A statement naming a feature the spec does
not have, or contradicting the features sent (``default`` with a value, ``applicant`` or
``marketplace`` without one), is refused. The stored sources cover every feature of the
spec: one the caller did not state is ``applicant`` when it has a value, ``default`` when not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.scoring.domain.spec import SegmentSpec, is_missing

APPLICANT, MARKETPLACE, DEFAULT = "applicant", "marketplace", "default"
SOURCES = (APPLICANT, MARKETPLACE, DEFAULT)


def source_problems(
    spec: SegmentSpec, features: Mapping[str, Any], sources: Mapping[str, str]
) -> list[tuple[str, str]]:
    """``(field, message)`` for each stated source that is not a feature of the spec, not one of
    the three words, or that contradicts the features sent."""
    known = {f.name for f in spec.features}
    problems: list[tuple[str, str]] = []
    for name, source in sources.items():
        where = f"feature_sources.{name}"
        if name not in known:
            if name not in features:  # an unknown feature sent is refused as such already
                problems.append((where, f"is not a feature of segment {spec.segment!r}"))
        elif source not in SOURCES:
            problems.append((where, "must be one of applicant, marketplace, default"))
        elif source == DEFAULT and not is_missing(features.get(name)):
            problems.append((where, "is default but the feature has a value"))
        elif source != DEFAULT and is_missing(features.get(name)):
            problems.append((where, f"is {source} but the feature has no value"))
    return problems


def complete_sources(
    spec: SegmentSpec, features: Mapping[str, Any], sources: Mapping[str, str]
) -> dict[str, str]:
    """Every feature of the spec, in spec order, with its source (stated, else from its value)."""
    return {
        f.name: sources.get(f.name) or (DEFAULT if is_missing(features.get(f.name)) else APPLICANT)
        for f in spec.features
    }
