"""The worker's retry of ``pending_score`` applications.

Each application is handled in its own short transactions: read what to send, call scoring
with no transaction open (the same Idempotency-Key as the first attempt, so a score that
was made but whose answer was lost comes back unchanged), then lock the application and
store the score only if it is still ``pending_score``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from services.loans.domain.lifecycle import ApplicationStatus, ScoringOutcome, scoring_outcome
from services.loans.repository import applications as repo
from services.loans.repository import borrowers as borrowers_repo
from services.loans.service.applications import SEGMENTS, apply_score, note_score_failure
from services.loans.service.scoring import ScoreResult, ScoringClient, score_idempotency_key
from services.loans.settings import LoansContext
from shared.changes import record_change
from shared.http_client import ServiceUnreachable, UpstreamProblem

log = logging.getLogger("agrifin.loans.scoring_retry")
RETRY_ACTOR = "system:loans.scoring-retry"


@dataclass(frozen=True)
class RetryReport:
    """What one pass of the retry job did."""

    attempted: int
    scored: int
    still_pending: int
    failed: int


def retry_pending_scores(ctx: LoansContext, scoring: ScoringClient, *, limit: int = 50) -> RetryReport:
    """Try to score every ``pending_score`` application whose next attempt is due."""
    with ctx.db.unit_of_work(read_only=True) as session:
        due = repo.due_for_scoring(session, now=ctx.clock.now(), limit=limit)
    scored = pending = failed = 0
    for application_id in due:
        with ctx.db.unit_of_work(read_only=True) as session:
            application = repo.get_application(session, application_id)
            if application is None or application.status != ApplicationStatus.PENDING_SCORE:
                continue
            borrower = borrowers_repo.get_borrower(session, application.borrower_id)
            assert borrower is not None
            segment, features = SEGMENTS[borrower.type], json.loads(application.features)
        try:
            result: ScoreResult | UpstreamProblem | ServiceUnreachable = scoring.score(
                segment=segment,
                subject_id=application.borrower_id,
                features=features,
                idempotency_key=score_idempotency_key(application_id),
            )
        except (UpstreamProblem, ServiceUnreachable) as exc:
            result = exc
        outcome = _store_outcome(ctx, application_id, result)
        scored += outcome == "scored"
        pending += outcome == "pending"
        failed += outcome == "failed"
    return RetryReport(attempted=len(due), scored=scored, still_pending=pending, failed=failed)


def _store_outcome(
    ctx: LoansContext, application_id: str, result: ScoreResult | UpstreamProblem | ServiceUnreachable
) -> str:
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
        log.warning("scoring still unavailable for application %s: %s", application_id, result)
        return "pending"
