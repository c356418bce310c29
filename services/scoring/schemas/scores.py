"""Bodies of the scores resource: a score request, the stored decision, shadow scores, replay."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class MonitoringIn(BaseModel):
    """Attributes kept for fairness monitoring only; never a model input."""

    model_config = ConfigDict(extra="forbid")

    group: str = Field(min_length=1, max_length=64, description="e.g. a region or gender group")


class ScoreIn(BaseModel):
    """An applicant to score."""

    model_config = ConfigDict(extra="forbid")

    segment: str = Field(min_length=1, max_length=40, examples=["farmer"])
    subject_id: str = Field(min_length=1, max_length=128, examples=["farmer-001"])
    features: dict[str, Any] = Field(description="Feature values by name (see GET /v1/segments/{segment}).")
    monitoring: MonitoringIn | None = None


class Contribution(BaseModel):
    """A feature's input value and the points it added (+) or cost (−)."""

    feature: str
    value: Any
    points: float


class ReasonOut(BaseModel):
    """A reason code: a feature that cost points."""

    code: str
    feature: str
    points: float
    text: str


class Receipt(BaseModel):
    """Ed25519 signature over the canonical JSON payload (base64url, no padding)."""

    alg: str
    key_id: str
    payload: str
    signature: str


class ScoreOut(BaseModel):
    """A stored, signed, explained decision."""

    model_config = ConfigDict(protected_namespaces=())

    id: str
    segment: str
    subject_id: str
    model_version: str
    model_sha256: str
    score: float
    base_points: float
    pd: float
    grade: str = Field(description="A ≥ 600, B ≥ 570, C ≥ 540, D ≥ 510, E below")
    decision_hint: str = Field(description="approve / review / decline (thresholds in settings)")
    contributions: list[Contribution]
    reasons: list[ReasonOut]
    receipt: Receipt
    created_at: str


class ScoreList(BaseModel):
    """A page of decisions, newest first."""

    scores: list[ScoreOut]
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null when this is the last")


class ShadowOut(BaseModel):
    """What a challenger would have scored."""

    challenger_version: str
    score: float
    pd: float
    grade: str
    decision_hint: str


class ShadowList(BaseModel):
    """The shadow scores of one decision."""

    decision_id: str
    shadow_scores: list[ShadowOut]


class ReplayOut(BaseModel):
    """A decision recomputed from its stored inputs with its stored model."""

    model_config = ConfigDict(protected_namespaces=())

    id: str
    model_version: str
    model_sha256: str
    identical: bool
    original: dict[str, Any]
    replayed: dict[str, Any] | None
    differences: list[dict[str, Any]]
