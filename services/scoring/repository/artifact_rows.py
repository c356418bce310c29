"""SQL for the stored model artifacts (``scoring_model_artifacts``): the bytes every replica finds.

A version's row holds ``model.txt`` and ``metadata.json`` exactly as the model store writes
them to disk, with their SHA-256s. The row is inserted in the registration's transaction
(:func:`add_artifact`), so a version exists in the registry if and only if its artifact
does; :func:`insert_missing` is the idempotent form (``ON CONFLICT DO NOTHING``) for
uploading artifacts that predate the table, safe when several processes do it at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from services.scoring.models import ModelArtifact, ModelVersion
from shared.crypto import sha256_hex
from shared.db import insert_if_absent

_ARTIFACTS: Table = ModelArtifact.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class ArtifactFiles:
    """The two files of a version's artifact, as bytes."""

    model_file: bytes
    metadata_file: bytes

    def row(self, version: str, now: datetime) -> dict[str, Any]:
        """The ``scoring_model_artifacts`` row of ``version``."""
        return {
            "version": version,
            "model_file": self.model_file,
            "model_sha256": sha256_hex(self.model_file),
            "metadata_file": self.metadata_file,
            "metadata_sha256": sha256_hex(self.metadata_file),
            "created_at": now,
        }


@dataclass(frozen=True)
class VersionRef:
    """What locating a version's artifact needs: its segment and registered SHA-256."""

    version: str
    segment: str
    artifact_sha256: str


def add_artifact(session: Session, version: str, files: ArtifactFiles, *, now: datetime) -> None:
    """Insert ``version``'s artifact in the caller's transaction (a duplicate fails here)."""
    session.execute(insert(_ARTIFACTS), files.row(version, now))


def insert_missing(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert artifact rows, leaving any version that already has one alone."""
    if not rows:
        return
    session.execute(insert_if_absent(_ARTIFACTS, session.get_bind().dialect.name, ("version",)), list(rows))


def get_files(session: Session, version: str) -> tuple[ArtifactFiles, str, str] | None:
    """``version``'s files and the SHA-256s recorded beside them (model, metadata), if stored."""
    query = select(
        _ARTIFACTS.c.model_file,
        _ARTIFACTS.c.metadata_file,
        _ARTIFACTS.c.model_sha256,
        _ARTIFACTS.c.metadata_sha256,
    ).where(_ARTIFACTS.c.version == version)
    row = session.execute(query).first()
    if row is None:
        return None
    return ArtifactFiles(bytes(row[0]), bytes(row[1])), row[2], row[3]


def versions_without_artifact(session: Session) -> list[VersionRef]:
    """Registered versions that have no artifact row (registered before the table existed)."""
    query = (
        select(ModelVersion.version, ModelVersion.segment, ModelVersion.artifact_sha256)
        .outerjoin(_ARTIFACTS, _ARTIFACTS.c.version == ModelVersion.version)
        .where(_ARTIFACTS.c.version.is_(None))
        .order_by(ModelVersion.segment, ModelVersion.sequence)
    )
    return [VersionRef(row[0], row[1], row[2]) for row in session.execute(query).all()]
