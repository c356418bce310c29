"""SQL of uploaded training data files (``scoring_training_uploads``).

The metadata is read without the file's bytes (``get_upload``); the bytes only by the worker
that trains on them (``upload_content``).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from services.scoring.models import TrainingUpload


def add_upload(session: Session, upload: TrainingUpload) -> TrainingUpload:
    """Store an uploaded file (flushed: it exists for the rest of the transaction)."""
    session.add(upload)
    session.flush()
    return upload


def get_upload(session: Session, upload_id: str) -> TrainingUpload | None:
    """An upload's metadata (its content is loaded only when read), or None."""
    query = select(TrainingUpload).where(TrainingUpload.id == upload_id)
    return session.scalars(query.options(defer(TrainingUpload.content))).first()


def upload_content(session: Session, upload_id: str) -> tuple[TrainingUpload, bytes] | None:
    """An upload with its bytes, or None."""
    row = session.get(TrainingUpload, upload_id)
    return None if row is None else (row, row.content)
