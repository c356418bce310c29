"""The scoring service's worker jobs: the queued long work its requests start.

* ``scoring.jobs.run`` runs queued jobs (``shared.jobs``); one kind, ``scoring.train``:
  train on synthetic data and register the model (``POST /v1/models/train`` queues it).
  Its result is the registered model as ``GET /v1/models/{version}`` lists it.
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
from services.scoring.service import registry
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

    return {registry.TRAIN_JOB: train}


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
