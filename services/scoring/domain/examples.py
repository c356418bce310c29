"""An example applicant for a segment: the spec's own, else a typical one from the baseline.

A spec brought with its own data may not declare ``example``. Then the example takes, per
feature, the training median (the middle PSI quantile edge, clipped to the spec's range)
for numeric features and the most frequent training value for categorical and boolean
ones, so that it always validates against the spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.scoring.domain.spec import FeatureSpec, FeatureValue, SegmentSpec, validate_features


def _numeric(f: FeatureSpec, entry: Mapping[str, Any] | None) -> float:
    edges = list(entry.get("edges") or []) if entry else []
    value = float(edges[len(edges) // 2]) if edges else (f.min if f.min is not None else 0.0)
    if f.min is not None:
        value = max(value, f.min)
    if f.max is not None:
        value = min(value, f.max)
    return value


def _most_frequent(entry: Mapping[str, Any] | None, n: int) -> int:
    ratios = list(entry.get("ratios") or [])[:n] if entry else []
    return max(range(len(ratios)), key=lambda i: (ratios[i], -i)) if ratios else 0


def example_features(spec: SegmentSpec, baseline: Mapping[str, Any] | None = None) -> dict[str, FeatureValue]:
    """A valid example applicant for ``spec`` (its declared example when it has one)."""
    if spec.example:
        return dict(spec.example)
    entries: Mapping[str, Any] = (baseline or {}).get("features", {})
    example: dict[str, FeatureValue] = {}
    for f in spec.features:
        entry = entries.get(f.name)
        if f.type == "numeric":
            example[f.name] = _numeric(f, entry)
        elif f.type == "categorical":
            example[f.name] = f.categories[_most_frequent(entry, len(f.categories))]
        else:
            example[f.name] = bool(_most_frequent(entry, 2))
    validate_features(spec, example)
    return example
