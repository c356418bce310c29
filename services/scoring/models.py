"""The scoring service's tables: its domain tables and its own copy of the platform tables.

- ``scoring_models``: the registry, one row per model version. The artifacts (LightGBM
  text + metadata JSON) live in the model store; the row keeps their SHA-256, the spec and
  the training facts. At most one ``champion`` per segment: enforced in code under a
  segment lock and by a partial unique index (PostgreSQL and SQLite both support it).
- ``scoring_decisions``: every score, with its inputs, outcome and signed receipt.
  ``outcome`` is JSON (``repr`` precision, so floats round-trip bit for bit); the ``score``,
  ``pd``, ``grade`` and ``decision_hint`` columns duplicate it for queries and monitoring.
  Indexed for the decision explorer (newest first, by any one of time, segment, subject,
  model version or hint).
- ``scoring_shadow_scores``: what each challenger would have scored for a decision (a decision
  keeps whether any of them gave another decision hint: ``challenger_disagreement``).
- ``scoring_model_artifacts``: the bytes of each version's artifact (``model.txt`` and
  ``metadata.json``), written in the registration's transaction, so every replica can load
  a version it never trained; the local model directory is only a cache of these rows.
- ``scoring_promotions``: every time a version became its segment's champion, by whom, and
  the champion it replaced (the segment's champion history; ``promoted_at``/``promoted_by``
  on the version keep only its latest promotion).
- ``scoring_training_uploads``: training data files uploaded through the API (CSV or Parquet,
  their bytes, SHA-256 and raw header), so every replica and the worker read the same file.

JSON columns are ``Text`` written by the repository (canonical JSON), the same on both
backends.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import BigIntPK, new_metadata
from shared.platform_tables import define_platform_tables


class Base(DeclarativeBase):
    """Declarative base of the scoring service, on its own MetaData."""

    metadata = new_metadata()


metadata = Base.metadata
PLATFORM = define_platform_tables(metadata)

_TS = DateTime(timezone=True)

STATUS_CHALLENGER = "challenger"
STATUS_CHAMPION = "champion"
STATUS_RETIRED = "retired"
MODEL_STATUSES = (STATUS_CHALLENGER, STATUS_CHAMPION, STATUS_RETIRED)


class ModelVersion(Base):
    """One trained model in the registry."""

    __tablename__ = "scoring_models"
    __table_args__ = (
        Index(
            "uq_scoring_models_one_champion",
            "segment",
            unique=True,
            postgresql_where=text("status = 'champion'"),
            sqlite_where=text("status = 'champion'"),
        ),
        Index("ix_scoring_models_segment_status", "segment", "status"),
    )

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    segment: Mapped[str] = mapped_column(String(40))
    sequence: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    spec: Mapped[str] = mapped_column(Text)
    parameters: Mapped[str] = mapped_column(Text)
    library_versions: Mapped[str] = mapped_column(Text)
    data_fingerprint: Mapped[str] = mapped_column(String(64))
    data_source: Mapped[str] = mapped_column(String(200))
    metrics: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(_TS)
    created_by: Mapped[str] = mapped_column(String(128))
    promoted_at: Mapped[datetime | None] = mapped_column(_TS, nullable=True)
    promoted_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class ModelArtifact(Base):
    """The artifact of one registered version: the LightGBM model file and its metadata file."""

    __tablename__ = "scoring_model_artifacts"

    version: Mapped[str] = mapped_column(ForeignKey("scoring_models.version"), primary_key=True)
    model_file: Mapped[bytes] = mapped_column(LargeBinary)
    """``model.txt`` exactly as written to the store (UTF-8 LightGBM text)."""
    model_sha256: Mapped[str] = mapped_column(String(64))
    """SHA-256 of ``model_file``: the version's ``artifact_sha256``."""
    metadata_file: Mapped[bytes] = mapped_column(LargeBinary)
    """``metadata.json`` (spec, calibration, scale, baseline, metrics: the card's source)."""
    metadata_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(_TS)


class Decision(Base):
    """One stored, signed scoring decision."""

    __tablename__ = "scoring_decisions"
    __table_args__ = (
        # each ends in (created_at, id): the explorer's order, so even a deep page reads no table row
        Index("ix_scoring_decisions_created", "created_at", "id"),
        Index("ix_scoring_decisions_subject_created", "subject_id", "created_at", "id"),
        Index("ix_scoring_decisions_segment_created", "segment", "created_at", "id"),
        Index("ix_scoring_decisions_model_created", "model_version", "created_at", "id"),
        Index("ix_scoring_decisions_hint_created", "decision_hint", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    segment: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(ForeignKey("scoring_models.version"))
    model_sha256: Mapped[str] = mapped_column(String(64))
    features: Mapped[str] = mapped_column(Text)
    features_sha256: Mapped[str] = mapped_column(String(64))
    monitoring_group: Mapped[str | None] = mapped_column(String(64), nullable=True)
    score: Mapped[float] = mapped_column(Float)
    pd: Mapped[float] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(1))
    decision_hint: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(Text)
    reasons: Mapped[str] = mapped_column(Text)
    receipt: Mapped[str] = mapped_column(Text)
    receipt_payload_sha256: Mapped[str] = mapped_column(String(64))
    feature_sources: Mapped[str | None] = mapped_column(Text)
    """JSON: every feature of the spec and its source (``applicant``, ``marketplace``,
    ``default``) when the caller stated sources; NULL when it did not."""
    marketplace_as_of: Mapped[datetime | None] = mapped_column(_TS)
    """The ``as_of`` of the trade summary the marketplace features came from (the caller's)."""
    challenger_disagreement: Mapped[bool] = mapped_column(Boolean)
    """A challenger scored in shadow with this decision gave another decision hint."""
    created_at: Mapped[datetime] = mapped_column(_TS)
    created_by: Mapped[str] = mapped_column(String(128))


class ShadowScore(Base):
    """A challenger's score for a decision the champion made (never shown to the caller)."""

    __tablename__ = "scoring_shadow_scores"
    __table_args__ = (UniqueConstraint("decision_id", "challenger_version"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    decision_id: Mapped[str] = mapped_column(ForeignKey("scoring_decisions.id"))
    challenger_version: Mapped[str] = mapped_column(ForeignKey("scoring_models.version"), index=True)
    score: Mapped[float] = mapped_column(Float)
    pd: Mapped[float] = mapped_column(Float)
    grade: Mapped[str] = mapped_column(String(1))
    decision_hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(_TS)


class Promotion(Base):
    """A version made its segment's champion: when, by whom, replacing which champion."""

    __tablename__ = "scoring_promotions"
    __table_args__ = (
        Index("ix_scoring_promotions_segment_promoted", "segment", "promoted_at"),
        Index("ix_scoring_promotions_version", "version"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    segment: Mapped[str] = mapped_column(String(40))
    version: Mapped[str] = mapped_column(ForeignKey("scoring_models.version"))
    previous_version: Mapped[str | None] = mapped_column(ForeignKey("scoring_models.version"), nullable=True)
    promoted_at: Mapped[datetime] = mapped_column(_TS)
    promoted_by: Mapped[str] = mapped_column(String(128))


OUTCOMES = ("repaid", "dpd30", "dpd60", "dpd90", "written_off")
"""The outcomes loans reports for a scored loan (``loan.outcome``)."""


class Outcome(Base):
    """One outcome of the loan a decision scored (at most one row per decision and outcome)."""

    __tablename__ = "scoring_outcomes"
    __table_args__ = (UniqueConstraint("score_id", "outcome"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    score_id: Mapped[str] = mapped_column(ForeignKey("scoring_decisions.id"))
    loan_id: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    occurred_on: Mapped[date] = mapped_column(Date)
    disbursed_on: Mapped[date] = mapped_column(Date)
    event_id: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(_TS)


class TrainingUpload(Base):
    """A training data file uploaded through the API (``POST /v1/training-data``)."""

    __tablename__ = "scoring_training_uploads"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    filename: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(16))
    """``csv`` or ``parquet``."""
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """Data rows when known without parsing the file (Parquet's metadata); NULL for CSV."""
    columns: Mapped[str] = mapped_column(Text)
    """JSON list: the header exactly as in the file (before pandas renames duplicates)."""
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(_TS)
