"""Exact explanations: TreeSHAP contributions → score points and reason codes.

For a row, LightGBM's ``pred_contrib`` gives SHAP values ``φ_j`` on the raw margin (log-odds
of default) and the base value ``φ_0`` with ``raw = φ_0 + Σ φ_j`` exactly. Platt
calibration is linear in the raw margin (``margin = a·raw + b``), and so is the score
(``score = offset − factor·margin``), hence::

    base_points = offset − factor·(a·φ_0 + b)
    points_j    = −factor · a · φ_j
    score       = base_points + Σ points_j            (exact up to float rounding)

Positive points help the applicant, negative points cost points. Reasons are the up to
:data:`MAX_REASONS` features with the most negative points (only those < 0), ties broken
by spec order, each with the spec's reason code and text (``en`` default, ``zh``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from services.scoring.domain.matrix import row_to_matrix
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.scale import (
    GRADE_CUTOFFS,
    ScoreScale,
    grade_for,
    grades_for,
    sigmoid,
    sigmoid_scalar,
)
from services.scoring.domain.spec import Matrix, validate_features

__all__ = [
    "GRADE_CUTOFFS",
    "MAX_REASONS",
    "BatchExplanation",
    "Explanation",
    "Reason",
    "ScoreScale",
    "contributions",
    "explain",
    "explain_applicant",
    "explain_batch",
    "grade_for",
]

MAX_REASONS = 4


@dataclass(frozen=True)
class Reason:
    """A feature that cost points, with its reason code and text."""

    code: str
    feature: str
    points: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "code": self.code,
            "feature": self.feature,
            "points": self.points,
            "text": self.text,
        }


@dataclass(frozen=True)
class Explanation:
    """One applicant's explained score."""

    margin: float
    pd: float
    score: float
    base_points: float
    points: dict[str, float]
    grade: str
    reasons: list[Reason]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "margin": self.margin,
            "pd": self.pd,
            "score": self.score,
            "base_points": self.base_points,
            "points": dict(self.points),
            "grade": self.grade,
            "reasons": [r.to_dict() for r in self.reasons],
        }


@dataclass(frozen=True)
class BatchExplanation:
    """Explanations of N rows as arrays (``points`` is ``(N, n_features)``)."""

    model: TrainedModel
    margin: Matrix
    pd: Matrix
    score: Matrix
    base_points: Matrix
    points: Matrix
    grades: npt.NDArray[np.str_]
    reason_index: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.score.shape[0])

    def reasons(self, i: int, lang: str = "en") -> list[Reason]:
        """Reasons of row ``i`` in ``lang``."""
        features = self.model.spec.features
        out: list[Reason] = []
        for j in self.reason_index[i]:
            if j < 0:
                break
            f = features[int(j)]
            out.append(Reason(f.reason_code, f.name, float(self.points[i, j]), f.reason(lang)))
        return out

    def row(self, i: int, lang: str = "en") -> Explanation:
        """Row ``i`` as an :class:`Explanation`."""
        names = self.model.spec.feature_names
        return Explanation(
            margin=float(self.margin[i]),
            pd=float(self.pd[i]),
            score=float(self.score[i]),
            base_points=float(self.base_points[i]),
            points={n: float(p) for n, p in zip(names, self.points[i], strict=True)},
            grade=str(self.grades[i]),
            reasons=self.reasons(i, lang),
        )


def contributions(model: TrainedModel, matrix: Matrix, *, num_threads: int = 1) -> Matrix:
    """Raw TreeSHAP contributions ``(N, n_features + 1)``; last column is the base value."""
    x = np.ascontiguousarray(matrix, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(model.spec.features):
        raise ValueError(f"matrix must be (n, {len(model.spec.features)})")
    out = model.booster.predict(x, pred_contrib=True, num_threads=num_threads)
    return np.asarray(out, dtype=np.float64)


def _reason_index(points: Matrix) -> npt.NDArray[np.int64]:
    k = min(MAX_REASONS, points.shape[1])
    order = np.argsort(points, axis=1, kind="stable")[:, :k]
    picked = np.take_along_axis(points, order, axis=1)
    return np.where(picked < 0.0, order, -1).astype(np.int64)


def explain_batch(model: TrainedModel, matrix: Matrix, *, num_threads: int = 1) -> BatchExplanation:
    """Explain every row of ``matrix`` (vectorised)."""
    contrib = contributions(model, matrix, num_threads=num_threads)
    a, b = model.calibration_a, model.calibration_b
    factor, offset = model.scale.factor, model.scale.offset
    shap_values = contrib[:, :-1]
    base = contrib[:, -1]
    margin = a * contrib.sum(axis=1) + b
    points = (-factor * a) * shap_values
    score = offset - factor * margin
    return BatchExplanation(
        model=model,
        margin=margin,
        pd=sigmoid(margin),
        score=score,
        base_points=offset - factor * (a * base + b),
        points=points,
        grades=grades_for(score),
        reason_index=_reason_index(points),
    )


def explain(model: TrainedModel, matrix: Matrix, *, lang: str = "en") -> list[Explanation]:
    """Explain each row of ``matrix``; one :class:`Explanation` per row."""
    batch = explain_batch(model, matrix)
    return [batch.row(i, lang) for i in range(len(batch))]


def explain_applicant(
    model: TrainedModel, features: Mapping[str, object], *, lang: str = "en"
) -> Explanation:
    """Validate one applicant's features and explain the score (fast path, no pandas)."""
    clean = validate_features(model.spec, features)
    row = row_to_matrix(model.spec, clean)
    contrib = model.booster.predict(row, pred_contrib=True, num_threads=1)[0]
    a, b = model.calibration_a, model.calibration_b
    factor, offset = model.scale.factor, model.scale.offset
    margin = a * float(contrib.sum()) + b
    score = offset - factor * margin
    names = model.spec.feature_names
    points = {n: -factor * a * float(v) for n, v in zip(names, contrib[:-1], strict=True)}
    costly = sorted(((p, j) for j, p in enumerate(points.values()) if p < 0.0), key=lambda item: item[0])[
        :MAX_REASONS
    ]
    reasons = []
    for p, j in costly:
        f = model.spec.features[j]
        reasons.append(Reason(f.reason_code, f.name, p, f.reason(lang)))
    return Explanation(
        margin=margin,
        pd=sigmoid_scalar(margin),
        score=score,
        base_points=offset - factor * (a * float(contrib[-1]) + b),
        points=points,
        grade=grade_for(score),
        reasons=reasons,
    )
