"""The loans service's periodic jobs for the worker: scoring retries and close of business.

* ``loans.scoring.retry`` scores applications left ``pending_score`` while scoring (or escrow's
  trade summary) was unavailable.
* ``loans.cob`` closes the days up to the business date that have no close of business yet,
  one day at a time in order (when an admin moves the business date several days, each day
  between is closed), or daily when the business date follows the clock.
* ``loans.jobs.run`` runs the queued jobs requests start (``shared.jobs``); one kind,
  ``loans.cob``: close of business for a date (``POST /v1/close-of-business`` queues it).
* ``loans.escrow.instructions`` sends loans' pending instructions to escrow (register, close
  and refund of assignments of proceeds; ``service.escrow_delivery``), in order per loan,
  with their stored Idempotency-Keys; escrow down: they wait and are retried with backoff.
* ``loans.escrow.subscribe`` subscribes loans to escrow's ``assignment.swept`` events through
  escrow's API until it is done (``service.escrow_subscription``); nothing when the operator
  configured the subscription.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from services.loans.service.cob import COB_JOB, close_due_days, close_of_business_job
from services.loans.service.cob_chunk import CobSummary
from services.loans.service.escrow_delivery import InstructionReport, send_due_instructions
from services.loans.service.escrow_subscription import (
    SubscriptionOutcome,
    build_escrow_client,
    ensure_escrow_subscription,
)
from services.loans.service.scoring import scoring_client_factory
from services.loans.service.scoring_retry import RetryReport, retry_pending_scores
from services.loans.service.trade_history import escrow_client_factory
from services.loans.settings import LoansContext
from shared.jobs import Handler, JobRun, job_runner
from shared.self_subscription import until_subscribed
from shared.worker import Job

log = logging.getLogger("agrifin.loans.jobs")

COB_ACTOR = "system:loans.worker"


def close_business_date_if_due(ctx: LoansContext) -> CobSummary | None:
    """Close, one day at a time and in order, every day up to the business date not yet
    closed (at most ``business_date_max_forward_days`` per run); the last day's summary."""
    closed = close_due_days(ctx, actor=COB_ACTOR, max_days=ctx.settings.business_date_max_forward_days)
    return closed[-1] if closed else None


def escrow_subscription_job(ctx: LoansContext) -> Callable[[], SubscriptionOutcome | None]:
    """Check loans' subscription to escrow until it is in place once; then do nothing."""
    escrow = build_escrow_client(ctx.settings)
    return until_subscribed(
        lambda: ensure_escrow_subscription(ctx.settings, escrow), publisher="escrow", log=log
    )


def job_handlers(ctx: LoansContext) -> dict[str, Handler]:
    """The handler per kind of queued job."""

    def close_of_business(run: JobRun) -> dict[str, Any]:
        return close_of_business_job(ctx, run)

    return {COB_JOB: close_of_business}


def periodic_jobs(ctx: LoansContext) -> list[Job]:
    """(name, interval in seconds, callable) for the worker."""
    scoring = scoring_client_factory(ctx, None)
    trade_summaries = escrow_client_factory(ctx, None)

    def retry() -> RetryReport:
        return retry_pending_scores(ctx, scoring(), escrow=trade_summaries)

    def cob() -> CobSummary | None:
        return close_business_date_if_due(ctx)

    escrow = build_escrow_client(ctx.settings)

    def instructions() -> InstructionReport:
        return send_due_instructions(ctx, escrow)

    return [
        ("loans.scoring.retry", ctx.settings.scoring_retry_interval_seconds, retry),
        ("loans.cob", ctx.settings.cob_check_interval_seconds, cob),
        ("loans.jobs.run", 1.0, job_runner(ctx, job_handlers(ctx))),
        (
            "loans.escrow.subscribe",
            ctx.settings.escrow_subscribe_interval_seconds,
            escrow_subscription_job(ctx),
        ),
        ("loans.escrow.instructions", ctx.settings.escrow_instructions_interval_seconds, instructions),
    ]
