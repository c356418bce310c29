"""The worker's retry of ``pending_score`` applications.

Each application is handled in its own short transactions: read what to send; when the
application still waits for escrow's trade summary (its feature sources are not recorded
yet), ask escrow with no transaction open and record the filled features and their sources
in a transaction of their own *before* scoring is called, so that every later attempt sends
scoring the very same body; call scoring with no transaction open (the same Idempotency-Key
as the first attempt, so a score that was made but whose answer was lost comes back
unchanged); then lock the application and store the score only if it is still
``pending_score``. Escrow still unavailable counts as a failed attempt, with the same backoff.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from services.loans.domain.lifecycle import ApplicationStatus, ScoringOutcome, scoring_outcome
from services.loans.models import Application
from services.loans.repository import applications as repo
from services.loans.repository import borrowers as borrowers_repo
from services.loans.repository import products as products_repo
from services.loans.service.applications import (
    SEGMENTS,
    apply_score,
    note_score_failure,
    score_application,
    store_scoring_input,
)
from services.loans.service.scoring import ScoreResult, ScoringClient
from services.loans.service.trade_history import (
    Applicant,
    ScoringInput,
    TradeSummaryUnavailable,
    escrow_client_factory,
    scoring_input,
)
from services.loans.settings import LoansContext
from shared.changes import record_change
from shared.clients.escrow import EscrowClient
from shared.http_client import ServiceUnreachable, UpstreamProblem

log = logging.getLogger("agrifin.loans.scoring_retry")
RETRY_ACTOR = "system:loans.scoring-retry"

Outcome = ScoreResult | UpstreamProblem | ServiceUnreachable | TradeSummaryUnavailable


@dataclass(frozen=True)
class RetryReport:
    """What one pass of the retry job did."""

    attempted: int
    scored: int
    still_pending: int
    failed: int


def retry_pending_scores(
    ctx: LoansContext,
    scoring: ScoringClient,
    *,
    escrow: Callable[[], EscrowClient] | None = None,
    limit: int = 50,
) -> RetryReport:
    """Try to score every ``pending_score`` application whose next attempt is due.

    ``escrow`` gives the escrow client (built from the settings on first need when omitted).
    """
    escrow_client = escrow or escrow_client_factory(ctx, None)
    with ctx.db.unit_of_work(read_only=True) as session:
        due = repo.due_for_scoring(session, now=ctx.clock.now(), limit=limit)
    scored = pending = failed = 0
    for application_id in due:
        outcome = _attempt(ctx, scoring, escrow_client, application_id)
        scored += outcome == "scored"
        pending += outcome == "pending"
        failed += outcome == "failed"
    return RetryReport(attempted=len(due), scored=scored, still_pending=pending, failed=failed)


def _attempt(
    ctx: LoansContext, scoring: ScoringClient, escrow: Callable[[], EscrowClient], application_id: str
) -> str:
    with ctx.db.unit_of_work(read_only=True) as session:
        application = repo.get_application(session, application_id)
        if application is None or application.status != ApplicationStatus.PENDING_SCORE:
            return "skipped"
        applicant = _applicant(session, application)
        needs_input = application.feature_sources is None
        features = json.loads(application.features)
    if needs_input:
        try:
            prepared = scoring_input(escrow, applicant, features, now=ctx.clock.now())
        except TradeSummaryUnavailable as exc:
            return _store_outcome(ctx, application_id, exc)
        if not _store_input(ctx, application_id, prepared):
            return "skipped"
    with ctx.db.unit_of_work(read_only=True) as session:
        application = repo.get_application(session, application_id)
        if application is None or application.status != ApplicationStatus.PENDING_SCORE:
            return "skipped"
    try:
        result: Outcome = score_application(scoring, application, segment=applicant.segment)
    except (UpstreamProblem, ServiceUnreachable) as exc:
        result = exc
    return _store_outcome(ctx, application_id, result)


def _applicant(session: Session, application: Application) -> Applicant:
    borrower = borrowers_repo.get_borrower(session, application.borrower_id)
    product = products_repo.get_product(session, application.product_id)
    assert borrower is not None and product is not None
    return Applicant(
        segment=SEGMENTS[borrower.type],
        currency=application.currency,
        marketplace_party_id=borrower.marketplace_party_id,
        score_without_marketplace=product.score_without_marketplace,
    )


def _store_input(ctx: LoansContext, application_id: str, prepared: ScoringInput) -> bool:
    """Record the features scoring will get (once); False when the application moved on."""
    with ctx.db.unit_of_work() as session:
        application = repo.get_application(session, application_id, lock=True)
        if application is None or application.status != ApplicationStatus.PENDING_SCORE:
            return False
        if application.feature_sources is None:  # another worker may have recorded them first
            store_scoring_input(application, prepared)
            application.updated_at = ctx.clock.now()
    return True


def _store_outcome(ctx: LoansContext, application_id: str, result: Outcome) -> str:
    with ctx.db.unit_of_work() as session:
        application = repo.get_application(session, application_id, lock=True)
        if application is None or application.status != ApplicationStatus.PENDING_SCORE:
            return "skipped"
        now = ctx.clock.now()
        if isinstance(result, ScoreResult):
            apply_score(session, ctx, application, result, actor=RETRY_ACTOR)
            return "scored"
        note_score_failure(application, str(result), now)
        failed = scoring_outcome(application.status, ScoringOutcome.REFUSED)
        if isinstance(result, UpstreamProblem) and result.status == 422 and failed is not None:
            application.status = failed.value
            application.next_score_attempt_at = None
            session.flush()
            record_change(
                session,
                ctx,
                actor=RETRY_ACTOR,
                action="loan.application_score_failed",
                subject=f"application:{application.id}",
                payload={"application_id": application.id, "error": application.last_score_error},
            )
            return "failed"
        log.warning("still unable to score application %s: %s", application_id, result)
        return "pending"
