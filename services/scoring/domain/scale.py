"""Score scale and grades: points = offset − factor × margin.

``margin`` is the calibrated log-odds of **default** (bad:good). With ``base_points`` at
good:bad odds ``base_odds`` and ``pdo`` points to double the good odds:

* ``factor = pdo / ln 2``
* at the base odds the margin is ``ln(1 / base_odds) = −ln(base_odds)``, so
  ``base_points = offset + factor·ln(base_odds)`` → ``offset = base_points − factor·ln(base_odds)``.

Defaults (600 points at 50:1, PDO 20): factor ≈ 28.854, offset ≈ 487.123. A higher score
is a lower risk. Because the scale is linear in the margin, additive margin contributions
(TreeSHAP) convert to additive points exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

# Grade cut-offs on the default scale (lower bound inclusive) and the PD each bound means
# (calibrated): A ≥ 600 (PD ≤ 1.96 %), B ≥ 570 (≤ 5.3 %), C ≥ 540 (≤ 13.8 %),
# D ≥ 510 (≤ 31.1 %), E below 510.
GRADE_CUTOFFS: tuple[tuple[str, float], ...] = (
    ("A", 600.0),
    ("B", 570.0),
    ("C", 540.0),
    ("D", 510.0),
)
LOWEST_GRADE = "E"


@dataclass(frozen=True)
class ScoreScale:
    """Linear points scale on the log-odds of default."""

    base_points: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0

    @property
    def factor(self) -> float:
        """Points per unit of log-odds (``pdo / ln 2``)."""
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        """Score at margin 0 (even odds): ``base_points − factor·ln(base_odds)``."""
        return self.base_points - self.factor * math.log(self.base_odds)

    def score(self, margin: float) -> float:
        """Score for a log-odds-of-default margin."""
        return self.offset - self.factor * margin

    def margin(self, score: float) -> float:
        """Log-odds of default for a score (inverse of :meth:`score`)."""
        return (self.offset - score) / self.factor

    def to_dict(self) -> dict[str, float]:
        """JSON-able parameters plus the derived factor and offset."""
        return {
            "base_points": self.base_points,
            "base_odds": self.base_odds,
            "pdo": self.pdo,
            "factor": self.factor,
            "offset": self.offset,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoreScale:
        """Inverse of :meth:`to_dict` (derived values are ignored)."""
        return cls(float(data["base_points"]), float(data["base_odds"]), float(data["pdo"]))


def grade_for(score: float) -> str:
    """Grade A–E for a score (see :data:`GRADE_CUTOFFS`)."""
    for grade, lower in GRADE_CUTOFFS:
        if score >= lower:
            return grade
    return LOWEST_GRADE


def grades_for(scores: npt.NDArray[np.float64]) -> npt.NDArray[np.str_]:
    """Vectorised :func:`grade_for`."""
    bounds = np.array([lower for _, lower in GRADE_CUTOFFS][::-1])
    labels = np.array([LOWEST_GRADE, *(g for g, _ in reversed(GRADE_CUTOFFS))])
    return labels[np.searchsorted(bounds, scores, side="right")]


HINTS: tuple[str, ...] = ("approve", "review", "decline")
"""The decision hints, in :meth:`HintRule.hint_index` order."""


class _Thresholds(Protocol):
    approve_min_score: float
    decline_below_score: float


@dataclass(frozen=True)
class HintRule:
    """The decision hint's rule: ``approve`` at or above ``approve_min_score``, ``decline`` below
    ``decline_below_score``, ``review`` between (scoring's settings give the thresholds; a v2
    receipt signs them, so an offline replay applies the same rule)."""

    approve_min_score: float
    decline_below_score: float

    @classmethod
    def of(cls, source: _Thresholds) -> HintRule:
        """The rule ``source`` (the settings) states."""
        return cls(float(source.approve_min_score), float(source.decline_below_score))

    def hint(self, score: float) -> str:
        """The hint for one score (:meth:`hint_index`'s rule on one float, without numpy)."""
        number = float(score)
        if number >= self.approve_min_score:
            return HINTS[0]
        if number < self.decline_below_score:
            return HINTS[2]
        return HINTS[1]

    def hint_index(self, scores: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Index into :data:`HINTS` per score (vectorised)."""
        return np.where(
            scores >= self.approve_min_score, 0, np.where(scores < self.decline_below_score, 2, 1)
        ).astype(np.int64)


def sigmoid(margin: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Probability from log-odds, without overflow warnings for extreme margins."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-margin))


def sigmoid_scalar(margin: float) -> float:
    """Scalar :func:`sigmoid` (no numpy overhead)."""
    if margin >= 0:
        return 1.0 / (1.0 + math.exp(-margin))
    z = math.exp(margin)
    return z / (1.0 + z)
