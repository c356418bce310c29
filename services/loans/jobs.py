"""The loans service's periodic jobs for the worker: scoring retries and close of business.

* ``loans.scoring.retry`` scores applications left ``pending_score`` while scoring was down.
* ``loans.cob`` runs close of business for the business date once it has none: when an
  admin moves the business date, or daily when the business date follows the clock.
* ``loans.escrow.subscribe`` subscribes loans to escrow's ``assignment.swept`` events through
  escrow's API until it is done (``service.escrow_subscription``); nothing when the operator
  configured the subscription.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from services.loans.service.cob import due_for_close, run_close_of_business
from services.loans.service.cob_chunk import CobSummary
from services.loans.service.escrow_subscription import (
    SubscriptionOutcome,
    build_escrow_client,
    ensure_escrow_subscription,
)
from services.loans.service.scoring import scoring_client_factory
from services.loans.service.scoring_retry import RetryReport, retry_pending_scores
from services.loans.settings import LoansContext
from shared.http_client import ServiceCallError
from shared.worker import Job

log = logging.getLogger("agrifin.loans.jobs")

COB_ACTOR = "system:loans.worker"


def close_business_date_if_due(ctx: LoansContext) -> CobSummary | None:
    """Run COB for the business date unless a completed run exists for it."""
    with ctx.db.unit_of_work(read_only=True) as session:
        today = due_for_close(session, ctx)
    if today is None:
        return None
    return run_close_of_business(ctx, as_of=today, actor=COB_ACTOR)


def escrow_subscription_job(ctx: LoansContext) -> Callable[[], SubscriptionOutcome | None]:
    """Check loans' subscription to escrow until it is in place once; then do nothing."""
    done = threading.Event()
    escrow = build_escrow_client(ctx.settings)

    def subscribe() -> SubscriptionOutcome | None:
        if done.is_set():
            return None
        try:
            outcome = ensure_escrow_subscription(ctx.settings, escrow)
        except ServiceCallError as exc:
            log.warning("cannot subscribe to escrow's events yet: %s", exc)
            return None
        done.set()
        return outcome

    return subscribe


def periodic_jobs(ctx: LoansContext) -> list[Job]:
    """(name, interval in seconds, callable) for the worker."""
    scoring = scoring_client_factory(ctx, None)

    def retry() -> RetryReport:
        return retry_pending_scores(ctx, scoring())

    def cob() -> CobSummary | None:
        return close_business_date_if_due(ctx)

    return [
        ("loans.scoring.retry", ctx.settings.scoring_retry_interval_seconds, retry),
        ("loans.cob", ctx.settings.cob_check_interval_seconds, cob),
        (
            "loans.escrow.subscribe",
            ctx.settings.escrow_subscribe_interval_seconds,
            escrow_subscription_job(ctx),
        ),
    ]
