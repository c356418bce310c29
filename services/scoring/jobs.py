"""The scoring service's worker jobs: the queued long work its requests start.

* ``scoring.jobs.run`` runs queued jobs (``shared.jobs``) of two kinds, both queued by
  ``POST /v1/models/train``: ``scoring.train`` trains on synthetic data,
  ``scoring.train_upload`` on an uploaded file (``service.training_jobs``); each registers
  the model, and its result is the registered model as ``GET /v1/models`` lists it.
* ``scoring.loans.subscribe`` subscribes scoring to loans' ``loan.outcome`` events through
  loans' API until it is done (``service.loans_subscription``); nothing when the operator
  configured the subscription (``AGRIFIN_SCORING_LOANS_WEBHOOK_SECRET``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from services.scoring.presenters import model_out
from services.scoring.repository.artifacts import build_store
from services.scoring.service import registry, training_jobs
from services.scoring.service.loans_subscription import build_loans_client, ensure_loans_subscription
from services.scoring.settings import ScoringContext
from shared.jobs import Handler, JobRun, job_runner
from shared.self_subscription import SubscriptionOutcome, until_subscribed
from shared.worker import Job

log = logging.getLogger("agrifin.scoring.jobs")


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

    def train_upload(run: JobRun) -> dict[str, Any]:
        run.checkpoint()
        row = training_jobs.run_upload_training(
            ctx, store, payload=run.payload, actor=run.actor, progress=run.report, checkpoint=run.checkpoint
        )
        return model_out(row).model_dump(mode="json")

    return {registry.TRAIN_JOB: train, training_jobs.TRAIN_UPLOAD_JOB: train_upload}


def loans_subscription_job(ctx: ScoringContext) -> Callable[[], SubscriptionOutcome | None]:
    """Check scoring's subscription to loans' outcomes until it is in place once; then do nothing."""
    loans = build_loans_client(ctx.settings)
    return until_subscribed(
        lambda: ensure_loans_subscription(ctx.settings, loans), publisher="loans", log=log
    )


def periodic_jobs(ctx: ScoringContext) -> list[Job]:
    """(name, interval in seconds, callable) for the worker."""
    return [
        ("scoring.jobs.run", 1.0, job_runner(ctx, job_handlers(ctx))),
        (
            "scoring.loans.subscribe",
            ctx.settings.loans_subscribe_interval_seconds,
            loans_subscription_job(ctx),
        ),
    ]
