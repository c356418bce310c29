"""Training on a lender's own data: uploads, the train request, the worker's job, the job's view.

- ``store_upload``: an uploaded CSV or Parquet file is checked (readable, no duplicate column
  names, at most ``training_upload_max_bytes``) and stored in ``scoring_training_uploads`` in
  the request's transaction, so every replica and the worker read the same bytes.
- ``enqueue_upload_training`` / ``enqueue_file_training``: a train request checks only what
  is cheap (the spec parses and is valid, the segment name, the target is not a feature and
  is in the file's header, the upload exists) and queues a ``scoring.train_upload`` job.
- ``run_upload_training`` (the worker, from ``services.scoring.jobs``): reads the upload in a
  short read-only transaction, checks and trains with no transaction open (the stages of
  ``domain.training.train_model`` become the job's progress), and registers the model in one
  short transaction as ``agrifin train --data`` does (data source ``upload:<id>:<filename>``).
  Bad data fails the job in plain words with the column and the first rows (progress
  ``failure``); nothing is registered.
- ``training_job``: a training job (synthetic or uploaded data) for ``GET /v1/training-jobs/{id}``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from sqlalchemy.orm import Session

from services.scoring.domain.spec import SegmentSpec, SpecError, spec_from_dict, spec_from_yaml, spec_to_dict
from services.scoring.domain.training import TrainingDataError, train_model
from services.scoring.models import ModelVersion, TrainingUpload
from services.scoring.repository import training_uploads as repo
from services.scoring.repository.artifacts import ModelStore
from services.scoring.repository.datafiles import DataFileError, inspect_table, read_table_bytes
from services.scoring.schemas.models import TrainFileIn, TrainUploadIn
from services.scoring.service.registry import (
    TRAIN_JOB,
    check_segment_name,
    register_model,
    training_progress,
)
from services.scoring.settings import ScoringContext
from shared.changes import new_id, record_change
from shared.errors import NotFound, PayloadTooLarge, ProblemError, ValidationProblem
from shared.jobs import JobOut, enqueue_job, get_job

TRAIN_UPLOAD_JOB = "scoring.train_upload"
"""The kind of the job that trains on an uploaded file (``services.scoring.jobs`` runs it)."""

TRAINING_JOBS = (TRAIN_JOB, TRAIN_UPLOAD_JOB)
"""The job kinds ``GET /v1/training-jobs/{id}`` shows."""

Progress = Callable[..., None]


class TrainingFailed(ProblemError):
    """A training job that cannot train: why in plain words, and where in the data."""

    status, title, slug = 422, "Unprocessable Content", "training-failed"

    def __init__(self, detail: str, *, column: str | None = None, rows: list[int] | None = None) -> None:
        super().__init__(detail, column=column, rows=list(rows or []))
        self.column = column
        self.rows = list(rows or [])


def _filename(name: str) -> str:
    """The file's own name (no directories a client put in it), at most 255 characters."""
    base = PureWindowsPath(PurePosixPath(name).name).name.strip()
    return (base or "upload")[-255:]


def store_upload(
    session: Session, ctx: ScoringContext, *, filename: str, content: bytes, actor: str
) -> TrainingUpload:
    """Check an uploaded training file and store it (audited); 413 when too large, 422 when unusable."""
    limit = ctx.settings.training_upload_max_bytes
    if len(content) > limit:
        raise PayloadTooLarge(f"file: {len(content)} bytes; the limit is {limit} bytes")
    name = _filename(filename)
    try:
        facts = inspect_table(content, name)
    except DataFileError as exc:
        raise ValidationProblem([("file", str(exc))]) from exc
    upload = repo.add_upload(
        session,
        TrainingUpload(
            id=new_id(),
            filename=name,
            format=facts.format,
            sha256=hashlib.sha256(content).hexdigest(),
            size_bytes=len(content),
            rows=facts.rows,
            columns=json.dumps(facts.columns, ensure_ascii=False),
            content=content,
            uploaded_by=actor,
            created_at=ctx.clock.now(),
        ),
    )
    facts_out = {"id": upload.id, "filename": name, "sha256": upload.sha256, "bytes": upload.size_bytes}
    record_change(
        session,
        ctx,
        actor=actor,
        action="training_data.uploaded",
        subject=f"training_data:{upload.id}",
        payload=facts_out,
        event=False,
    )
    return upload


def get_upload(session: Session, upload_id: str) -> TrainingUpload:
    """An upload's metadata, or NotFound."""
    row = repo.get_upload(session, upload_id)
    if row is None:
        raise NotFound(f"no training data {upload_id!r}")
    return row


def parse_spec(spec: str | Mapping[str, Any], segment: str | None) -> SegmentSpec:
    """The request's spec (YAML text or an object), renamed to ``segment`` when given; every
    problem a 422 naming its field (``spec.features[3].reason.en``)."""
    try:
        parsed = spec_from_yaml(spec, source="spec") if isinstance(spec, str) else spec_from_dict(spec)
        if segment is not None:
            parsed = spec_from_dict({**spec_to_dict(parsed), "segment": segment})
    except SpecError as exc:
        raise ValidationProblem(_spec_problems(str(exc)), detail=f"spec: {exc}") from exc
    check_segment_name(parsed.segment, "segment" if segment is not None else "spec.segment")
    return parsed


def _spec_problems(message: str) -> list[tuple[str, str]]:
    """``spec_from_dict``'s ``field: message; field: message`` as (``spec.<field>``, message) pairs."""
    out = []
    for problem in message.split("; "):
        where, sep, what = problem.partition(": ")
        if not sep or where == "spec":
            out.append(("spec", what if sep else problem))
        else:
            out.append((f"spec.{where}", what))
    return out


def _check_target(spec: SegmentSpec, upload: TrainingUpload, target: str) -> None:
    if target in spec.feature_names:
        raise ValidationProblem([("target", f"{target!r} is also a feature of the spec")])
    columns = json.loads(upload.columns)
    if target not in columns:
        shown = ", ".join(columns[:20]) + (" …" if len(columns) > 20 else "")
        raise ValidationProblem([("target", f"no column {target!r} in the file's header ({shown})")])


def _enqueue(
    session: Session,
    ctx: ScoringContext,
    *,
    upload: TrainingUpload,
    body: TrainUploadIn | TrainFileIn,
    actor: str,
) -> JobOut:
    spec = parse_spec(body.spec, body.segment)
    _check_target(spec, upload, body.target)
    payload = {
        "training_data_id": upload.id,
        "spec": spec_to_dict(spec),
        "target": body.target,
        "seed": body.seed,
        "tune": body.tune,
        "cv_folds": body.cv_folds,
        "bad_value": body.bad_value,
        "promote": body.promote,
    }
    return enqueue_job(session, ctx, kind=TRAIN_UPLOAD_JOB, payload=payload, actor=actor)


def enqueue_upload_training(
    session: Session, ctx: ScoringContext, *, body: TrainUploadIn, actor: str
) -> JobOut:
    """Check a request to train on an earlier upload and queue the job."""
    upload = repo.get_upload(session, body.training_data_id)
    if upload is None:
        raise ValidationProblem([("training_data_id", f"no training data {body.training_data_id!r}")])
    return _enqueue(session, ctx, upload=upload, body=body, actor=actor)


def enqueue_file_training(
    session: Session, ctx: ScoringContext, *, body: TrainFileIn, filename: str, content: bytes, actor: str
) -> JobOut:
    """Store the file sent with a train request and queue the job (both, or neither)."""
    upload = store_upload(session, ctx, filename=filename, content=content, actor=actor)
    return _enqueue(session, ctx, upload=upload, body=body, actor=actor)


def run_upload_training(
    ctx: ScoringContext,
    store: ModelStore,
    *,
    payload: Mapping[str, Any],
    actor: str,
    progress: Progress,
    checkpoint: Callable[[], None],
) -> ModelVersion:
    """Read the upload, train with no transaction open, register in one short transaction."""
    try:
        return _train_and_register(
            ctx, store, payload=payload, actor=actor, progress=progress, checkpoint=checkpoint
        )
    except TrainingFailed as exc:
        progress(stage="failed", failure={"column": exc.column, "rows": exc.rows})
        raise


def _train_and_register(
    ctx: ScoringContext,
    store: ModelStore,
    *,
    payload: Mapping[str, Any],
    actor: str,
    progress: Progress,
    checkpoint: Callable[[], None],
) -> ModelVersion:
    upload_id, target = str(payload["training_data_id"]), str(payload["target"])
    progress(stage="reading")
    with ctx.db.unit_of_work(read_only=True) as session:
        found = repo.upload_content(session, upload_id)
        if found is None:
            raise TrainingFailed(f"the training data {upload_id!r} no longer exists")
        upload, content = found
        filename, fmt, columns = upload.filename, upload.format, json.loads(upload.columns)
    try:
        spec = spec_from_dict(payload["spec"])
        frame = read_table_bytes(content, fmt)
        del content
        bad_value = payload.get("bad_value")
        model = train_model(
            spec,
            frame,
            target=target,
            columns=columns,
            seed=int(payload["seed"]),
            cv_folds=int(payload["cv_folds"]),
            tune=int(payload["tune"]),
            bad_value=bad_value,
            scale=ctx.settings.score_scale,
            progress=training_progress(progress, checkpoint),
        )
    except TrainingDataError as exc:
        raise TrainingFailed(str(exc), column=exc.column, rows=exc.rows) from exc
    except (SpecError, DataFileError) as exc:
        raise TrainingFailed(str(exc)) from exc
    meta = model.metadata
    progress(stage="registering", rounds=meta["best_iteration"], max_rounds=meta["num_boost_round"])
    with ctx.db.unit_of_work() as session:
        row = register_model(
            session,
            ctx,
            store,
            model=model,
            actor=actor,
            promote=bool(payload["promote"]),
            data_source=f"upload:{upload_id}:{filename}",
        )
    progress(stage="registered", version=row.version)
    return row


def training_job(session: Session, ctx: ScoringContext, job_id: str) -> JobOut:
    """A training job (on synthetic or uploaded data), or NotFound (also for other jobs)."""
    job = get_job(session, ctx, job_id)
    if job.kind not in TRAINING_JOBS:
        raise NotFound(f"no training job {job_id!r}")
    return job
