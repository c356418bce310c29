"""The loans service's periodic jobs for the worker: scoring retries and close of business.

* ``loans.scoring.retry`` scores applications left ``pending_score`` while scoring was down.
* ``loans.cob`` runs close of business for the business date once it has none: when an
  admin moves the business date, or daily when the business date follows the clock.
"""

from __future__ import annotations

from collections.abc import Callable

from services.loans.app import scoring_client_factory
from services.loans.repository import catalog
from services.loans.service.cob import run_close_of_business
from services.loans.service.cob_chunk import CobSummary
from services.loans.service.common import business_date
from services.loans.service.scoring_retry import RetryReport, retry_pending_scores
from services.loans.settings import LoansSettings
from shared.platform import ServiceContext

COB_ACTOR = "system:loans.worker"


def close_business_date_if_due(ctx: ServiceContext) -> CobSummary | None:
    """Run COB for the business date unless a completed run exists for it."""
    with ctx.db.unit_of_work(read_only=True) as session:
        today = business_date(session, ctx)
        run = catalog.cob_run_for(session, today)
        latest = catalog.latest_cob_date(session)
    if (run is not None and run.status == "completed") or (latest is not None and latest > today):
        return None
    return run_close_of_business(ctx, as_of=today, actor=COB_ACTOR)


def periodic_jobs(ctx: ServiceContext) -> list[tuple[str, float, Callable[[], object]]]:
    """(name, interval in seconds, callable) for the worker."""
    settings = ctx.settings
    assert isinstance(settings, LoansSettings)
    scoring = scoring_client_factory(ctx, None)

    def retry() -> RetryReport:
        return retry_pending_scores(ctx, scoring())

    def cob() -> CobSummary | None:
        return close_business_date_if_due(ctx)

    return [
        ("loans.scoring.retry", settings.scoring_retry_interval_seconds, retry),
        ("loans.cob", settings.cob_check_interval_seconds, cob),
    ]
