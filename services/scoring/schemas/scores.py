"""Bodies of the scores resource: a score request, the stored decision, shadow scores, replay."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

FeatureSource = Literal["applicant", "marketplace", "default"]
"""Where a feature's value came from: the applicant, the marketplace (escrow's trade summary),
or nowhere (``default``: omitted, the model's missing value)."""


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
    feature_sources: dict[str, FeatureSource] | None = Field(
        default=None,
        description="Where each feature's value came from (names of the spec's features only; "
        "``default`` exactly for the features without a value). Stored with the decision, "
        "completed for every feature of the spec.",
    )
    marketplace_as_of: AwareDatetime | None = Field(
        default=None, description="The time of the trade summary the marketplace features came from."
    )

    @field_validator("marketplace_as_of")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        try:
            return None if value is None else value.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:59-23:00 is after the last representable UTC time
            raise ValueError("is outside the range of representable times") from None


class Contribution(BaseModel):
    """A feature's input value and the points it added (+) or cost (−)."""

    feature: str
    value: Any
    points: float = Field(description="Exact points (float; what the receipt and replay compare)")
    integer_points: int = Field(
        description="Printable points: with integer_base_points they add up to integer_score exactly"
    )


class ReasonOut(BaseModel):
    """A reason code: a feature that cost points."""

    code: str
    feature: str
    points: float
    integer_points: int
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
    integer_score: int = Field(description="The score rounded half to even")
    integer_base_points: int = Field(
        description="Integer base points; with every contribution's integer_points it sums to "
        "integer_score exactly (largest-remainder rounding)"
    )
    pd: float
    grade: str = Field(description="A ≥ 600, B ≥ 570, C ≥ 540, D ≥ 510, E below")
    decision_hint: str = Field(description="approve / review / decline (thresholds in settings)")
    contributions: list[Contribution]
    reasons: list[ReasonOut]
    receipt: Receipt
    created_at: str
    feature_sources: dict[str, FeatureSource] | None = Field(
        description="Every feature of the spec and where its value came from; null when the "
        "caller stated no sources"
    )
    marketplace_as_of: str | None = Field(description="The trade summary's time (ISO-8601 UTC), if any")
    challenger_disagreement: bool = Field(
        description="true when a challenger scored in shadow gave another decision_hint than the champion"
    )


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
