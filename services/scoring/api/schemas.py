"""Request and response bodies of the scoring API."""

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
    """Decisions, newest first."""

    scores: list[ScoreOut]


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


class TrainIn(BaseModel):
    """Train a model for a built-in segment on seeded synthetic data."""

    model_config = ConfigDict(extra="forbid")

    segment: str = Field(examples=["farmer"])
    rows: int = Field(default=20_000, ge=1_000)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class ModelOut(BaseModel):
    """A registry entry."""

    version: str
    segment: str
    status: str
    artifact_sha256: str
    data_fingerprint: str
    data_source: str
    test_metrics: dict[str, Any]
    created_at: str
    created_by: str
    promoted_at: str | None
    promoted_by: str | None


class ModelDetail(ModelOut):
    """A registry entry with its spec, parameters, library versions and metrics."""

    spec: dict[str, Any]
    parameters: dict[str, Any]
    library_versions: dict[str, str]
    metrics: dict[str, Any]


class ModelList(BaseModel):
    """Registry entries."""

    models: list[ModelOut]


class SegmentOut(BaseModel):
    """A segment: built in or registered by bring-your-own-data training."""

    segment: str
    source: str
    description: str
    features: int
    champion_version: str | None


class SegmentList(BaseModel):
    """Every segment."""

    segments: list[SegmentOut]


class PublicKey(BaseModel):
    """A receipt verification key (base64url of the raw 32 bytes)."""

    key_id: str
    alg: str
    public_key: str


class PublicKeys(BaseModel):
    """Every key that verifies receipts (the newest signs)."""

    keys: list[PublicKey]
