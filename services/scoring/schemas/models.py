"""Bodies of the model registry: training requests and registry entries."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


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


class PromotionOut(BaseModel):
    """A version made its segment's champion: when, by whom (the actor, naming the person when
    the console acted for one), and the champion it replaced (null: the segment had none)."""

    segment: str
    version: str
    previous_version: str | None
    promoted_at: str
    promoted_by: str


class ModelDetail(ModelOut):
    """A registry entry with its spec, parameters, library versions, metrics and promotions."""

    spec: dict[str, Any]
    parameters: dict[str, Any]
    library_versions: dict[str, str]
    metrics: dict[str, Any]
    promotions: list[PromotionOut] = Field(description="every time it became champion, newest first")


class ChampionHistory(BaseModel):
    """A segment's champion now and its promotions, newest first."""

    segment: str
    champion_version: str | None
    promotions: list[PromotionOut]
    limit: int
    offset: int
    next_offset: int | None


class ModelList(BaseModel):
    """Registry entries."""

    models: list[ModelOut]
