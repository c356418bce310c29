"""SQL for the model registry (``scoring_models``) and its champion history (``scoring_promotions``)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from services.scoring.models import STATUS_CHALLENGER, STATUS_CHAMPION, ModelVersion, Promotion

_LOCK_NAMESPACE = 0x73636F72  # "scor"


def lock_segment(session: Session, segment: str) -> None:
    """Serialise registry changes of one segment until the transaction ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: writing transactions begin
    ``IMMEDIATE``, so they are already serialised.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(segment.encode()).digest()[:4], "big")
    session.execute(
        text("SELECT pg_advisory_xact_lock(:ns, :key)"), {"ns": _LOCK_NAMESPACE, "key": key - 2**31}
    )


def get_model(session: Session, version: str, *, lock: bool = False) -> ModelVersion | None:
    """A version by name; ``lock`` re-reads it and takes its row lock."""
    query = select(ModelVersion).where(ModelVersion.version == version)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).first()


def champion(session: Session, segment: str, *, lock: bool = False) -> ModelVersion | None:
    """The segment's champion, if it has one."""
    query = select(ModelVersion).where(
        ModelVersion.segment == segment, ModelVersion.status == STATUS_CHAMPION
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).first()


def champions(session: Session) -> dict[str, ModelVersion]:
    """Every segment's champion."""
    rows = session.scalars(select(ModelVersion).where(ModelVersion.status == STATUS_CHAMPION))
    return {row.segment: row for row in rows}


def challengers(session: Session, segment: str, *, limit: int) -> Sequence[ModelVersion]:
    """The segment's newest challengers (the ones scored in shadow)."""
    query = (
        select(ModelVersion)
        .where(ModelVersion.segment == segment, ModelVersion.status == STATUS_CHALLENGER)
        .order_by(ModelVersion.sequence.desc())
        .limit(limit)
    )
    return session.scalars(query).all()


def latest_model(session: Session, segment: str) -> ModelVersion | None:
    """The segment's most recently registered version."""
    query = (
        select(ModelVersion)
        .where(ModelVersion.segment == segment)
        .order_by(ModelVersion.sequence.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def next_sequence(session: Session, segment: str) -> int:
    """The next version number of a segment (call under ``lock_segment``)."""
    current = session.execute(
        select(func.max(ModelVersion.sequence)).where(ModelVersion.segment == segment)
    ).scalar_one()
    return int(current or 0) + 1


def list_models(
    session: Session, *, segment: str | None, status: str | None, limit: int, offset: int
) -> Sequence[ModelVersion]:
    """Versions, newest first per segment, optionally filtered."""
    query = select(ModelVersion).order_by(ModelVersion.segment, ModelVersion.sequence.desc())
    if segment is not None:
        query = query.where(ModelVersion.segment == segment)
    if status is not None:
        query = query.where(ModelVersion.status == status)
    return session.scalars(query.limit(limit).offset(offset)).all()


def registered_segments(session: Session) -> list[str]:
    """Every segment that has at least one registered version."""
    return sorted(session.scalars(select(ModelVersion.segment).distinct()).all())


def add_model(session: Session, row: ModelVersion) -> None:
    """Insert a version (flushed, so a duplicate fails here)."""
    session.add(row)
    session.flush()


def add_promotion(session: Session, row: Promotion) -> None:
    """Record that a version became its segment's champion."""
    session.add(row)
    session.flush()


def promotions(
    session: Session, *, segment: str | None = None, version: str | None = None, limit: int, offset: int = 0
) -> Sequence[Promotion]:
    """Promotions, newest first, of one segment or of one version."""
    query = select(Promotion).order_by(Promotion.promoted_at.desc(), Promotion.id.desc())
    if segment is not None:
        query = query.where(Promotion.segment == segment)
    if version is not None:
        query = query.where(Promotion.version == version)
    return session.scalars(query.limit(limit).offset(offset)).all()
