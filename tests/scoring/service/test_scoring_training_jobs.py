"""Training jobs on uploaded data, run as the worker runs them: progress, failures, interruption,
promotion; and ``training_progress``, which turns ``train_model``'s stages into a job's progress."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete

from services.scoring.domain.spec import spec_to_dict
from services.scoring.domain.synthetic import generate
from services.scoring.models import STATUS_CHAMPION, ModelVersion, TrainingUpload
from services.scoring.repository.artifacts import ModelStore
from services.scoring.repository.specs import builtin_spec
from services.scoring.schemas.models import TrainUploadIn
from services.scoring.service import training_jobs
from services.scoring.service.registry import training_progress
from services.scoring.settings import ScoringContext
from shared.errors import ValidationProblem
from shared.jobs import JobInterrupted
from tests.support import count_rows

SEGMENT = "growers"


def _upload(ctx: ScoringContext, rows: int = 500, seed: int = 8) -> TrainingUpload:
    content = generate("farmer", rows, seed).to_csv(index=False).encode()
    with ctx.db.unit_of_work() as session:
        upload = training_jobs.store_upload(session, ctx, filename="dir/book.csv", content=content, actor="t")
        session.expunge(upload)
    return upload


def _payload(upload: TrainingUpload, **changes: Any) -> dict[str, Any]:
    spec = {**spec_to_dict(builtin_spec("farmer")), "segment": SEGMENT}
    return {
        "training_data_id": upload.id,
        "spec": spec,
        "target": "default",
        "seed": 2,
        "tune": 0,
        "cv_folds": 0,
        "bad_value": None,
        "promote": False,
        **changes,
    }


class Recorder:
    """A job's progress as ``JobRun.report`` merges it, and every stage in order."""

    def __init__(self) -> None:
        self.progress: dict[str, Any] = {}
        self.stages: list[str] = []

    def __call__(self, **values: Any) -> None:
        if values.get("stage") and values["stage"] not in self.stages[-1:]:
            self.stages.append(values["stage"])
        self.progress.update(values)


def test_training_progress_speaks_the_jobs_words_and_checkpoints_at_each_stage() -> None:
    seen, checkpoints = Recorder(), []
    report = training_progress(seen, lambda: checkpoints.append(1))
    report("checking", {"rows": 500})
    report("training", {"round": 0, "rounds": 1000})
    report("training", {"round": 10, "rounds": 1000})
    report("done", {"best_iteration": 37})
    assert seen.stages == ["checking", "training", "done"] and len(checkpoints) == 3
    assert seen.progress == {"stage": "done", "rows": 500, "rounds": 10, "max_rounds": 1000}


def test_an_upload_trains_registers_and_reports_its_stages(ctx: ScoringContext, store: ModelStore) -> None:
    upload = _upload(ctx)
    assert upload.filename == "book.csv" and upload.rows is None and upload.format == "csv"
    seen = Recorder()
    row = training_jobs.run_upload_training(
        ctx, store, payload=_payload(upload), actor="admin:k", progress=seen, checkpoint=lambda: None
    )
    assert (row.version, row.status, row.created_by) == (f"{SEGMENT}-v1", STATUS_CHAMPION, "admin:k")
    assert row.data_source == f"upload:{upload.id}:book.csv"
    assert seen.stages[:3] == ["reading", "checking", "training"]
    assert seen.stages[-2:] == ["registering", "registered"] and seen.progress["version"] == row.version
    again = training_jobs.run_upload_training(
        ctx,
        store,
        payload=_payload(upload, promote=True),
        actor="admin:k",
        progress=Recorder(),
        checkpoint=lambda: None,
    )
    assert again.status == STATUS_CHAMPION and again.artifact_sha256 == row.artifact_sha256


def test_a_stopping_worker_interrupts_training_and_nothing_is_registered(
    ctx: ScoringContext, store: ModelStore
) -> None:
    upload = _upload(ctx)
    seen = Recorder()

    def checkpoint() -> None:
        if seen.progress.get("stage") == "training":
            raise JobInterrupted("stopping")

    with pytest.raises(JobInterrupted):
        training_jobs.run_upload_training(
            ctx, store, payload=_payload(upload), actor="t", progress=seen, checkpoint=checkpoint
        )
    assert count_rows(ctx, ModelVersion.__table__) == 0


def test_a_removed_upload_fails_the_job_in_plain_words(ctx: ScoringContext, store: ModelStore) -> None:
    upload = _upload(ctx)
    with ctx.db.unit_of_work() as session:
        session.execute(delete(TrainingUpload))
    seen = Recorder()
    with pytest.raises(training_jobs.TrainingFailed, match="no longer exists"):
        training_jobs.run_upload_training(
            ctx, store, payload=_payload(upload), actor="t", progress=seen, checkpoint=lambda: None
        )
    assert seen.progress["stage"] == "failed" and seen.progress["failure"] == {"column": None, "rows": []}
    assert count_rows(ctx, ModelVersion.__table__) == 0


def test_a_missing_feature_column_names_it(ctx: ScoringContext, store: ModelStore) -> None:
    content = generate("farmer", 300, 1).drop(columns=["main_crop"]).to_csv(index=False).encode()
    with ctx.db.unit_of_work() as session:
        upload = training_jobs.store_upload(session, ctx, filename="b.csv", content=content, actor="t")
        session.expunge(upload)
    seen = Recorder()
    with pytest.raises(training_jobs.TrainingFailed) as failed:
        training_jobs.run_upload_training(
            ctx, store, payload=_payload(upload), actor="t", progress=seen, checkpoint=lambda: None
        )
    assert failed.value.column == "main_crop" and "main_crop" in failed.value.detail
    assert seen.progress["failure"]["column"] == "main_crop"
    assert count_rows(ctx, ModelVersion.__table__) == 0


def test_the_request_checks_the_spec_the_target_and_the_upload(ctx: ScoringContext) -> None:
    upload = _upload(ctx, rows=300)
    spec = {**spec_to_dict(builtin_spec("farmer")), "segment": SEGMENT}
    cases = [
        ({"target": "bad"}, "target"),  # not in the header
        ({"target": "land_area_ha"}, "target"),  # a feature
        ({"spec": {**spec, "version": None}}, "spec.version"),
        ({"spec": {**spec, "segment": "Growers!"}}, "spec.segment"),
    ]
    for changes, field in cases:
        body = TrainUploadIn.model_validate(
            {"training_data_id": upload.id, "spec": spec, "target": "default", **changes}
        )
        with ctx.db.unit_of_work() as session, pytest.raises(ValidationProblem) as refused:
            training_jobs.enqueue_upload_training(session, ctx, body=body, actor="t")
        assert refused.value.extensions["errors"][0]["field"] == field, refused.value.detail
    assert count_rows(ctx, ctx.tables.jobs) == 0
