"""The scoring service's worker jobs: the queued long work its requests start.

* ``scoring.jobs.run`` runs queued jobs (``shared.jobs``); one kind, ``scoring.train``:
  train on synthetic data and register the model (``POST /v1/models/train`` queues it).
  Its result is the registered model as ``GET /v1/models/{version}`` lists it.
"""

from __future__ import annotations

from typing import Any

from services.scoring.presenters import model_out
from services.scoring.repository.artifacts import build_store
from services.scoring.service import registry
from services.scoring.settings import ScoringContext
from shared.jobs import Handler, JobRun, job_runner
from shared.worker import Job


def job_handlers(ctx: ScoringContext) -> dict[str, Handler]:
    """The handler per job kind."""
    store = build_store(ctx)

    def train(run: JobRun) -> dict[str, Any]:
        run.checkpoint()  # nothing is done yet: a stopping worker leaves it queued
        payload = run.payload
        row = registry.run_training(
            ctx,
            store,
            segment=payload["segment"],
            rows=payload["rows"],
            seed=payload["seed"],
            actor=run.actor,
            progress=run.report,
        )
        return model_out(row).model_dump(mode="json")

    return {registry.TRAIN_JOB: train}


def periodic_jobs(ctx: ScoringContext) -> list[Job]:
    """(name, interval in seconds, callable) for the worker."""
    return [("scoring.jobs.run", 1.0, job_runner(ctx, job_handlers(ctx)))]
