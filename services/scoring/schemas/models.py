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


class ModelDetail(ModelOut):
    """A registry entry with its spec, parameters, library versions and metrics."""

    spec: dict[str, Any]
    parameters: dict[str, Any]
    library_versions: dict[str, str]
    metrics: dict[str, Any]


class ModelList(BaseModel):
    """Registry entries."""

    models: list[ModelOut]
