"""Bodies of the model registry: training requests and registry entries, uploaded training
data and training jobs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TrainIn(BaseModel):
    """Train a model for a built-in segment on seeded synthetic data."""

    model_config = ConfigDict(extra="forbid")

    segment: str = Field(examples=["farmer"])
    rows: int = Field(default=20_000, ge=1_000)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class _TrainOnDataIn(BaseModel):
    """What training on a lender's own data takes besides the data."""

    model_config = ConfigDict(extra="forbid")

    spec: str | dict[str, Any] = Field(description="The feature spec: YAML text, or the parsed object.")
    target: str = Field(min_length=1, max_length=200, description="The 0/1 column (1 = default).")
    segment: str | None = Field(default=None, max_length=40, description="Default: the spec's segment.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    tune: int = Field(default=0, ge=0, le=200, description="Optuna trials (nested CV); 0: no tuning.")
    cv_folds: int = Field(default=0, ge=0, le=10, description="Also report k-fold CV AUC (0: off).")
    bad_value: str | None = Field(
        default=None, min_length=1, max_length=200, description="The bad value of a text target (good/bad)."
    )
    promote: bool = Field(default=False, description="Make it the champion.")

    @field_validator("cv_folds")
    @classmethod
    def _folds(cls, value: int) -> int:
        if value == 1:
            raise ValueError("must be 0 (off) or at least 2")
        return value


class TrainUploadIn(_TrainOnDataIn):
    """Train on a file uploaded before (``POST /v1/training-data``)."""

    training_data_id: str = Field(min_length=1, max_length=36)


class FilePart(BaseModel):
    """The data file of a multipart request, as the request hash sees it."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(max_length=1000)
    sha256: str
    bytes: int


class TrainFileIn(_TrainOnDataIn):
    """Train on the file sent with the request (multipart/form-data)."""

    file: FilePart


class UploadIn(BaseModel):
    """An upload: the data file only."""

    model_config = ConfigDict(extra="forbid")

    file: FilePart


class TrainingDataOut(BaseModel):
    """An uploaded training data file (its metadata; the bytes stay in the service)."""

    id: str
    filename: str
    format: str
    sha256: str
    bytes: int
    rows: int | None = Field(description="data rows when known without parsing (Parquet); null for CSV")
    columns: list[str] = Field(description="the header exactly as in the file")
    uploaded_by: str
    created_at: str
    href: str


class RoundsOut(BaseModel):
    """Boosting rounds: done so far (the best iteration once trained) and the most there may be."""

    done: int
    total: int | None


class TrainingErrorOut(BaseModel):
    """Why a training job failed: plain words, and where in the data when the data is the reason."""

    detail: str
    column: str | None
    rows: list[int] = Field(description="1-based data rows (row 1: the first row after the header)")


class TrainingJobOut(BaseModel):
    """A training job: how far it got, and the registered model or why it failed."""

    id: str
    kind: str
    status: str
    stage: str | None
    rounds: RoundsOut | None
    trial: int | None
    trials: int | None
    best_auc: float | None
    fold: int | None
    folds: int | None
    elapsed_seconds: float
    result: dict[str, Any] | None = Field(description="the registered model, as GET /v1/models lists it")
    error: TrainingErrorOut | None
    created_by: str
    created_at: str
    finished_at: str | None
    href: str


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
