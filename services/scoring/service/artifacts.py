"""Model artifacts: uploading those that predate ``scoring_model_artifacts`` (migration 0009),
and the one-file model a replay downloads (:func:`model_artifact`).

A migration cannot reach the model files of one machine, so the rows of versions registered
before the table existed are filled from the local model directory instead: at start-up
(``create_app``, in every serving process) and by ``agrifin bootstrap``, each registered
version without a row whose local ``model.txt`` matches its registered SHA-256 is inserted
(``ON CONFLICT DO NOTHING``: several processes may do it at once). A version whose local copy
is missing or differs is left as it is and reported; it loads only where a good copy exists.

:func:`model_artifact` is what ``GET /v1/models/{version}/artifact`` serves and ``agrifin replay
--model`` reads: ``domain.replay.bundle_document`` (format ``agrifin-model-artifact/1``), the
model text and its metadata in one file.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from services.scoring.domain.replay import bundle_document
from services.scoring.repository import artifact_rows
from services.scoring.repository import registry as repo
from services.scoring.repository.artifacts import ModelStore, read_local_files
from services.scoring.settings import ScoringContext
from shared.errors import NotFound

log = logging.getLogger("agrifin.scoring")

UPLOADED = "uploaded"
NO_LOCAL_COPY = "missing (no local copy matching its SHA-256)"


def upload_missing_artifacts(ctx: ScoringContext, store: ModelStore) -> dict[str, str]:
    """Insert the artifact row of every version that lacks one, from a verified local copy;
    returns version → what happened (empty when every version has its row)."""
    with ctx.db.unit_of_work(read_only=True) as session:
        missing = artifact_rows.versions_without_artifact(session)
    if not missing:
        return {}
    now = ctx.clock.now()
    states: dict[str, str] = {}
    rows = []
    for ref in missing:
        files = read_local_files(store.directory(ref.segment, ref.version), ref.artifact_sha256)
        if files is None:
            states[ref.version] = NO_LOCAL_COPY
            continue
        rows.append(files.row(ref.version, now))
        states[ref.version] = UPLOADED
    if rows:
        with ctx.db.unit_of_work() as session:
            artifact_rows.insert_missing(session, rows)
    for version, state in states.items():
        log.info("model artifact %s: %s", version, state)
    return states


@dataclass(frozen=True)
class ArtifactBundle:
    """A version's model as one self-contained JSON file: its bytes and identity."""

    version: str
    artifact_sha256: str
    body: bytes

    @property
    def filename(self) -> str:
        """The name a download is saved as."""
        return f"{self.version}.model.json"


def model_artifact(session: Session, store: ModelStore, version: str) -> ArtifactBundle:
    """A registered version's model file for replay (NotFound for an unknown version); the
    model is loaded through the store, so it is verified against the registered SHA-256."""
    row = repo.get_model(session, version)
    if row is None:
        raise NotFound(f"no model version {version!r}")
    model = store.load(row.segment, row.version, row.artifact_sha256)
    body = json.dumps(bundle_document(model, row.version), ensure_ascii=False, allow_nan=False)
    return ArtifactBundle(row.version, model.artifact_sha256, body.encode("utf-8"))
