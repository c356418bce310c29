"""A trained scoring model: LightGBM booster text + metadata JSON, and how to load it back.

Artifact = two pieces, both produced by :func:`services.scoring.domain.training.train_model`:

* ``model_text`` — ``booster.model_to_string()`` (UTF-8). Its SHA-256 is the model's
  identity (:attr:`TrainedModel.artifact_sha256`); same data + seed → same bytes.
* ``metadata`` — a JSON-able dict (format :data:`METADATA_FORMAT`) with keys ``format``,
  ``segment``, ``spec`` (full spec), ``target``, ``feature_names``, ``categorical_features``,
  ``monotone_constraints`` (LightGBM sign), ``params``, ``num_boost_round``,
  ``best_iteration``, ``seed``, ``calibration`` ``{method, a, b, fit_on}``, ``score_scale``,
  ``base_margin``, ``base_points``, ``metrics``, ``data`` ``{rows, default_rate,
  fingerprint, split}``, ``library_versions``, ``baseline`` (PSI bins), ``global_importance``,
  ``reference_values`` (the training rows' median of each numeric feature; absent in older
  models), ``bad_value`` (only for a text target) and ``artifact_sha256``. ``metrics`` has
  ``test``, ``valid``, ``train``, optionally ``cv`` (``nested: true`` when tuned) and
  ``tuning`` (``trials``, ``inner_folds``, ``best_params``, ``num_boost_round``, ``inner_auc``).
  It has no timestamps, so it is deterministic too.

:func:`load_model` rebuilds a :class:`TrainedModel` from the two and refuses a model text
whose hash differs from the metadata's (:class:`ArtifactIntegrityError`). Nothing here
touches files: the model store (``repository.artifacts``) reads and writes them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import lightgbm as lgb
import numpy as np

from services.scoring.domain.scale import ScoreScale, sigmoid
from services.scoring.domain.spec import Matrix, SegmentSpec, spec_from_dict
from shared.crypto import sha256_hex

METADATA_FORMAT = "agrifin-scoring-model/1"


class ArtifactIntegrityError(ValueError):
    """The model text does not match the hash recorded in its metadata."""


@dataclass
class TrainedModel:
    """Booster, its exact text, calibration, scale and metadata."""

    spec: SegmentSpec
    booster: lgb.Booster
    model_text: str
    calibration_a: float
    calibration_b: float
    scale: ScoreScale = field(default_factory=ScoreScale)
    metadata: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def artifact_sha256(self) -> str:
        """SHA-256 over the UTF-8 bytes of the model text (computed once; the text never changes)."""
        return sha256_hex(self.model_text)

    @property
    def segment(self) -> str:
        """Segment this model scores."""
        return self.spec.segment

    @property
    def reference_values(self) -> dict[str, float]:
        """Training median per numeric feature (``{}`` for a model trained before they were recorded)."""
        recorded = self.metadata.get("reference_values") or {}
        return {str(name): float(value) for name, value in recorded.items()}

    def raw_margin(self, matrix: Matrix, *, num_threads: int = 1) -> Matrix:
        """Uncalibrated LightGBM log-odds of default for each row."""
        raw = self.booster.predict(matrix, raw_score=True, num_threads=num_threads)
        return np.asarray(raw, dtype=np.float64)

    def margin(self, matrix: Matrix, *, num_threads: int = 1) -> Matrix:
        """Calibrated log-odds of default: ``a · raw + b``."""
        return self.calibration_a * self.raw_margin(matrix, num_threads=num_threads) + (self.calibration_b)

    def predict_pd(self, matrix: Matrix, *, num_threads: int = 1) -> Matrix:
        """Calibrated probability of default for each row."""
        return sigmoid(self.margin(matrix, num_threads=num_threads))

    def scores(self, matrix: Matrix, *, num_threads: int = 1) -> Matrix:
        """Score points for each row (no explanation)."""
        margin = self.margin(matrix, num_threads=num_threads)
        return self.scale.offset - self.scale.factor * margin

    def metadata_json(self) -> str:
        """Canonical JSON of the metadata (sorted keys, UTF-8 safe)."""
        return json.dumps(self.metadata, sort_keys=True, ensure_ascii=False, indent=1)


def load_model(model_text: str, metadata: Mapping[str, Any] | str) -> TrainedModel:
    """Rebuild a :class:`TrainedModel` from its model text and metadata (dict or JSON)."""
    meta: dict[str, Any] = json.loads(metadata) if isinstance(metadata, str) else dict(metadata)
    if meta.get("format") != METADATA_FORMAT:
        raise ValueError(f"unsupported model metadata format {meta.get('format')!r}")
    expected = meta.get("artifact_sha256")
    if expected != sha256_hex(model_text):
        raise ArtifactIntegrityError("model text does not match metadata artifact_sha256")
    spec = spec_from_dict(meta["spec"])
    calibration = meta["calibration"]
    a, b = float(calibration["a"]), float(calibration["b"])
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError("calibration parameters must be finite")
    return TrainedModel(
        spec=spec,
        booster=lgb.Booster(model_str=model_text),
        model_text=model_text,
        calibration_a=a,
        calibration_b=b,
        scale=ScoreScale.from_dict(meta["score_scale"]),
        metadata=meta,
    )
