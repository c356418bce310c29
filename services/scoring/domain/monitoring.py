"""Population stability (PSI) against the training baseline, and adverse impact ratio.

Baseline (stored in model metadata under ``baseline``, built by :func:`build_baseline`)::

    {"bins": 10,
     "score": {"kind": "numeric", "edges": [...], "ratios": [...]},
     "features": {name: {"kind": "numeric", "edges": [...], "ratios": [...]}
                        | {"kind": "categorical", "categories": [...], "ratios": [...]}}}

Numeric bins are ``(-inf, e0], (e0, e1], …, (e_k, inf)`` from training quantiles, plus a
final *missing* bin; categorical bins are the spec's category codes (booleans: false,
true) plus a final missing bin. ``PSI = Σ (a − e) · ln(a / e)`` with both ratios floored
at ``epsilon`` so empty bins do not give infinities. Bands: < 0.10 ``stable``,
< 0.25 ``moderate``, otherwise ``significant``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from services.scoring.domain.spec import FeatureSpec, Matrix, SegmentSpec

if TYPE_CHECKING:
    from services.scoring.domain.model import TrainedModel

PSI_MODERATE = 0.10
PSI_SIGNIFICANT = 0.25
PSI_EPSILON = 1e-4
AIR_THRESHOLD = 0.8


def psi(expected: Sequence[float], actual: Sequence[float], epsilon: float = PSI_EPSILON) -> float:
    """Population stability index of two ratio vectors over the same bins."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), epsilon)
    a = np.maximum(np.asarray(actual, dtype=np.float64), epsilon)
    if e.shape != a.shape:
        raise ValueError("expected and actual must have the same number of bins")
    return float(np.sum((a - e) * np.log(a / e)))


def psi_band(value: float) -> str:
    """``stable`` (< 0.10), ``moderate`` (< 0.25) or ``significant``."""
    if value < PSI_MODERATE:
        return "stable"
    if value < PSI_SIGNIFICANT:
        return "moderate"
    return "significant"


def quantile_edges(values: Matrix, bins: int) -> list[float]:
    """Distinct inner quantile edges of the non-missing ``values``."""
    present = values[~np.isnan(values)]
    if present.size == 0:
        return []
    qs = np.quantile(present, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    return [float(x) for x in np.unique(qs)]


def numeric_ratios(values: Matrix, edges: Sequence[float]) -> list[float]:
    """Share of ``values`` per numeric bin (``len(edges) + 1`` bins, then missing)."""
    n = max(len(values), 1)
    missing = np.isnan(values)
    idx = np.searchsorted(np.asarray(edges, dtype=np.float64), values[~missing], side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(np.float64)
    return [float(c / n) for c in counts] + [float(missing.sum() / n)]


def categorical_ratios(codes: Matrix, n_categories: int) -> list[float]:
    """Share of ``codes`` per category code, then missing."""
    n = max(len(codes), 1)
    missing = np.isnan(codes)
    present = codes[~missing].astype(np.int64)
    present = present[(present >= 0) & (present < n_categories)]
    counts = np.bincount(present, minlength=n_categories).astype(np.float64)
    return [float(c / n) for c in counts] + [float(missing.sum() / n)]


def _feature_baseline(f: FeatureSpec, column: Matrix, bins: int) -> dict[str, Any]:
    if f.type == "numeric":
        edges = quantile_edges(column, bins)
        return {"kind": "numeric", "edges": edges, "ratios": numeric_ratios(column, edges)}
    categories = list(f.categories) if f.type == "categorical" else ["false", "true"]
    return {
        "kind": "categorical",
        "categories": categories,
        "ratios": categorical_ratios(column, len(categories)),
    }


def build_baseline(spec: SegmentSpec, matrix: Matrix, scores: Matrix, bins: int = 10) -> dict[str, Any]:
    """Baseline distributions of scores and each feature (training set) for later PSI."""
    edges = quantile_edges(scores, bins)
    return {
        "bins": bins,
        "score": {"kind": "numeric", "edges": edges, "ratios": numeric_ratios(scores, edges)},
        "features": {f.name: _feature_baseline(f, matrix[:, j], bins) for j, f in enumerate(spec.features)},
    }


def _actual_ratios(entry: Mapping[str, Any], values: Matrix) -> list[float]:
    if entry["kind"] == "numeric":
        return numeric_ratios(values, entry["edges"])
    return categorical_ratios(values, len(entry["categories"]))


def bin_labels(entry: Mapping[str, Any]) -> list[str]:
    """Readable labels of a baseline entry's bins: ``≤ e0``, ``e0 – e1`` …, ``> ek`` or the
    categories, then ``missing``."""
    if entry["kind"] != "numeric":
        return [*entry["categories"], "missing"]
    edges = [f"{e:g}" for e in entry["edges"]]
    if not edges:
        return ["all", "missing"]
    inner = [f"{lo} – {hi}" for lo, hi in pairwise(edges)]
    return [f"≤ {edges[0]}", *inner, f"> {edges[-1]}", "missing"]


def _stability(entry: Mapping[str, Any], values: Matrix) -> dict[str, Any]:
    """PSI, band and the bins (label, expected and actual share) of one distribution."""
    actual = _actual_ratios(entry, values)
    value = psi(entry["ratios"], actual)
    out: dict[str, Any] = {"psi": value, "band": psi_band(value), "kind": entry["kind"]}
    if entry["kind"] == "numeric":
        out["edges"] = list(entry["edges"])
    else:
        out["categories"] = list(entry["categories"])
    out["bins"] = [
        {"label": label, "expected": float(e), "actual": float(a)}
        for label, e, a in zip(bin_labels(entry), entry["ratios"], actual, strict=True)
    ]
    return out


def population_stability(
    baseline: Mapping[str, Any], spec: SegmentSpec, matrix: Matrix, scores: Matrix
) -> dict[str, Any]:
    """PSI and band of the scores and of every feature of a new sample vs the baseline, with
    each bin's expected (training) and actual share, so that a chart can be drawn.

    Returns ``{"rows": n, "score": entry, "features": {name: entry}}`` where an entry is
    ``{"psi", "band", "kind", "edges" | "categories", "bins": [{"label", "expected", "actual"}]}``
    (the last bin counts missing values).
    """
    return {
        "rows": len(scores),
        "score": _stability(baseline["score"], scores),
        "features": {
            f.name: _stability(baseline["features"][f.name], matrix[:, j])
            for j, f in enumerate(spec.features)
        },
    }


def model_stability(model: TrainedModel, matrix: Matrix) -> dict[str, Any]:
    """:func:`population_stability` of ``matrix`` against ``model``'s stored baseline."""
    scores = model.scores(matrix)
    return population_stability(model.metadata["baseline"], model.spec, matrix, scores)


@dataclass(frozen=True)
class AdverseImpact:
    """Approve rates per group and the min/max ratio (flagged below the threshold)."""

    rates: dict[str, float]
    counts: dict[str, int]
    ratio: float
    flagged: bool
    threshold: float = AIR_THRESHOLD

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "rates": self.rates,
            "counts": self.counts,
            "ratio": self.ratio,
            "flagged": self.flagged,
            "threshold": self.threshold,
        }


def adverse_impact_ratio(
    approved: npt.ArrayLike, groups: npt.ArrayLike, threshold: float = AIR_THRESHOLD
) -> AdverseImpact:
    """Adverse impact ratio: min group approve rate / max group approve rate."""
    approved_arr = np.asarray(approved, dtype=bool)
    group_arr = np.asarray(groups).astype(str)
    if approved_arr.shape != group_arr.shape:
        raise ValueError("approved and groups must have the same length")
    labels, inverse = np.unique(group_arr, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(labels))
    hits = np.bincount(inverse, weights=approved_arr.astype(np.float64), minlength=len(labels))
    rates = {str(g): float(h / c) for g, h, c in zip(labels, hits, counts, strict=True)}
    top = max(rates.values(), default=0.0)
    ratio = min(rates.values()) / top if top > 0 else 1.0
    return AdverseImpact(
        rates=rates,
        counts={str(g): int(c) for g, c in zip(labels, counts, strict=True)},
        ratio=float(ratio),
        flagged=bool(ratio < threshold),
        threshold=threshold,
    )
