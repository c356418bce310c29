"""Close of business (COB) for one date: penalties, overdue marking, arrears aging, accrual.

``run_close_of_business`` is idempotent per date: a ``cob_runs`` row (unique date) records
the run; a completed run is answered as is, a run left ``running`` (a crash) is resumed.
Penalties are stored under a key (installment@date) unique per loan, so no re-run can
charge one twice. Loans are processed in chunks, each chunk its own transaction:

* every active loan gets its interest accrual and, unless it needs a replay, days past
  due 0 / bucket ``current`` (nothing can be overdue on it — see below);
* a loan is *replayed* with the domain when it could have arrears or penalties: it has an
  installment due before the date and not settled, or transactions since it was last
  evaluated (``cob_dirty``), or transactions dated after the date. A replay charges the
  domain's ``penalties_due``, re-projects the account (overdue installments, days past
  due, bucket, balances, allocations, which a back-dated penalty can shift).

Bucket moves and penalties become outbox events; the run is one audit entry carrying the
counts and a SHA-256 digest of every penalty charged.

A request does not run COB: ``enqueue_close_of_business`` checks the date and queues a
``loans.cob`` job, which the worker runs through ``close_of_business_job``.

One process at a time closes days, across workers and replicas (``shared.exclusive``): the
periodic ``close_due_days`` of a worker that finds another closing skips its turn, a queued job
or the CLI is refused with a 409-style ``Conflict`` naming it. (Two at once would each count
half of a day's loans and both report the day closed.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.loans.domain.business_date import next_day_to_close
from services.loans.models import CobRun
from services.loans.repository import add
from services.loans.repository import cob as repo
from services.loans.service.business_date import business_date
from services.loans.service.cob_chunk import ChunkWork, CobSummary
from services.loans.settings import LoansContext
from shared.changes import record_change
from shared.clock import utc_iso
from shared.crypto import canonical_json
from shared.errors import Conflict
from shared.exclusive import held_exclusively
from shared.jobs import JobOut, JobRun, enqueue_job

COB_JOB = "loans.cob"
"""The kind of the job ``POST /v1/close-of-business`` queues (``services.loans.jobs`` runs it)."""


def summary_of(run: CobRun, *, already_done: bool) -> CobSummary:
    """The summary of a stored run."""
    extra: dict[str, Any] = json.loads(run.summary or "{}")
    return CobSummary(
        business_date=run.business_date,
        status=run.status,
        loans_processed=run.loans_processed,
        loans_evaluated=run.loans_evaluated,
        penalties_charged=run.penalties_charged,
        buckets_changed=run.buckets_changed,
        penalty_minor_by_currency=extra.get("penalty_minor_by_currency", {}),
        buckets=extra.get("buckets", {}),
        already_done=already_done,
    )


def _claim_run(ctx: LoansContext, *, as_of: date, actor: str) -> CobSummary | None:
    """Claim the run for ``as_of``; a summary when it is already complete."""
    try:
        with ctx.db.unit_of_work() as session:
            today = business_date(session, ctx)
            if as_of > today:
                raise Conflict(
                    f"cannot close {as_of.isoformat()}: it is after the business date {today.isoformat()}",
                    current_state=today.isoformat(),
                )
            run = repo.cob_run_for(session, as_of)
            if run is not None and run.status == "completed":
                return summary_of(run, already_done=True)
            latest = repo.latest_cob_date(session)
            if latest is not None and latest > as_of:
                raise Conflict(
                    f"close of business already ran for the later date {latest.isoformat()}",
                    current_state=latest.isoformat(),
                )
            if run is None:
                add(
                    session,
                    CobRun(
                        business_date=as_of,
                        status="running",
                        started_at=ctx.clock.now(),
                        started_by=actor,
                        loans_processed=0,
                        loans_evaluated=0,
                        penalties_charged=0,
                        buckets_changed=0,
                    ),
                )
    except IntegrityError:
        raise Conflict(
            f"close of business for {as_of.isoformat()} is already starting", current_state="running"
        ) from None
    return None


COB_LOCK = "loans.cob"


def _closing_elsewhere() -> Conflict:
    return Conflict(
        "close of business is running in another worker; it finishes there (try again when it has)",
        current_state="running",
    )


def run_close_of_business(
    ctx: LoansContext,
    *,
    as_of: date,
    actor: str,
    chunk_size: int | None = None,
    after_chunk: Callable[[CobSummary], None] | None = None,
) -> CobSummary:
    """Run (or resume, or just report) close of business for ``as_of``, holding the COB lock.

    ``after_chunk`` is called with the running summary after each chunk has committed.
    """
    with held_exclusively(ctx.db, COB_LOCK) as held:
        if not held:
            raise _closing_elsewhere()
        return _close_day(ctx, as_of=as_of, actor=actor, chunk_size=chunk_size, after_chunk=after_chunk)


def _close_day(
    ctx: LoansContext,
    *,
    as_of: date,
    actor: str,
    chunk_size: int | None = None,
    after_chunk: Callable[[CobSummary], None] | None = None,
) -> CobSummary:
    done = _claim_run(ctx, as_of=as_of, actor=actor)
    if done is not None:
        return done
    size = chunk_size or ctx.settings.cob_chunk_size
    summary = CobSummary(business_date=as_of, status="completed")
    work = ChunkWork(ctx=ctx, as_of=as_of, summary=summary)
    after: str | None = None
    lock = not ctx.db.is_sqlite
    while True:
        with ctx.db.unit_of_work() as session:
            loans = repo.next_chunk(session, as_of=as_of, after=after, limit=size, lock=lock)
            if not loans:
                break
            work.close_chunk(session, loans)
        after = loans[-1].id
        if after_chunk is not None:
            after_chunk(summary)
    with ctx.db.unit_of_work() as session:
        run = repo.cob_run_for(session, as_of)
        assert run is not None
        run.status, run.finished_at = "completed", ctx.clock.now()
        run.loans_processed, run.loans_evaluated = summary.loans_processed, summary.loans_evaluated
        run.penalties_charged, run.buckets_changed = summary.penalties_charged, summary.buckets_changed
        summary.buckets = dict(sorted(work.buckets.items()))
        run.summary = canonical_json(
            {"penalty_minor_by_currency": summary.penalty_minor_by_currency, "buckets": summary.buckets}
        )
        session.flush()
        payload = summary.as_dict()
        payload.pop("already_done")
        payload["penalties_sha256"] = work.digest.hexdigest()
        record_change(
            session,
            ctx,
            actor=actor,
            action="loan.cob_completed",
            subject=f"cob:{as_of.isoformat()}",
            payload=payload,
        )
    return summary


def _check_closable(session: Session, ctx: LoansContext, as_of: date) -> None:
    today = business_date(session, ctx)
    if as_of > today:
        raise Conflict(
            f"cannot close {as_of.isoformat()}: it is after the business date {today.isoformat()}",
            current_state=today.isoformat(),
        )
    latest = repo.latest_cob_date(session)
    if latest is not None and latest > as_of:
        raise Conflict(
            f"close of business already ran for the later date {latest.isoformat()}",
            current_state=latest.isoformat(),
        )


def enqueue_close_of_business(
    session: Session, ctx: LoansContext, *, as_of: date | None, actor: str
) -> JobOut:
    """Check a request to close ``as_of`` (default: the business date) and queue it as a job."""
    when = as_of or business_date(session, ctx)
    _check_closable(session, ctx, when)
    return enqueue_job(session, ctx, kind=COB_JOB, payload={"date": when.isoformat()}, actor=actor)


def close_of_business_job(ctx: LoansContext, run: JobRun) -> dict[str, Any]:
    """The ``loans.cob`` job: close every unclosed day up to the payload's date, one day at a
    time in order (so days past due grow a day at a time), reporting loans processed per chunk.
    The result is the asked day's summary, the days closed before it, and the job's totals.

    A stopping worker interrupts it between chunks; the run is resumed when the job runs again.
    """

    def after_chunk(summary: CobSummary) -> None:
        run.report(stage="closing", loans_processed=summary.loans_processed)
        run.checkpoint()

    run.report(stage="starting", loans_processed=0)
    as_of = date.fromisoformat(run.payload["date"])
    before: list[CobSummary] = []
    with held_exclusively(ctx.db, COB_LOCK) as held:
        if not held:
            raise _closing_elsewhere()
        while True:  # one day at a time: every unclosed day before the one asked for, in order
            with ctx.db.unit_of_work(read_only=True) as session:
                day = due_for_close(session, ctx)
            if day is None or day >= as_of:
                break
            before.append(_close_day(ctx, as_of=day, actor=run.actor, after_chunk=after_chunk))
            run.checkpoint()
        summary = _close_day(ctx, as_of=as_of, actor=run.actor, after_chunk=after_chunk)
    run.report(stage="completed", loans_processed=summary.loans_processed, days_closed=len(before) + 1)
    closed = [s for s in (*before, summary) if not s.already_done]  # what this job closed
    penalty_minor: dict[str, int] = {}
    for day_summary in closed:
        for currency, minor in day_summary.penalty_minor_by_currency.items():
            penalty_minor[currency] = penalty_minor.get(currency, 0) + minor
    return {
        **summary.as_dict(),
        "days_closed_before": [s.business_date.isoformat() for s in before],
        "totals": {
            "days_closed": len(closed),
            "penalties_charged": sum(s.penalties_charged for s in closed),
            "penalty_minor_by_currency": penalty_minor,
        },
    }


def cob_run_view(run: CobRun) -> dict[str, Any]:
    """A stored run for the API."""
    out = summary_of(run, already_done=run.status == "completed").as_dict()
    out.update(
        started_at=utc_iso(run.started_at),
        finished_at=utc_iso(run.finished_at) if run.finished_at else None,
        started_by=run.started_by,
    )
    return out


def latest_business_date_closed(session: Session) -> date | None:
    """The latest date COB ran for."""
    return repo.latest_cob_date(session)


def list_cob_runs(session: Session, *, limit: int) -> list[dict[str, Any]]:
    """The latest close-of-business runs, newest first, as the API shows them."""
    return [cob_run_view(run) for run in repo.list_cob_runs(session, limit=limit)]


def due_for_close(session: Session, ctx: LoansContext) -> date | None:
    """The day close of business closes next: the day after the last closed one, one day at
    a time up to the business date (an unfinished run first); ``None`` when all are closed."""
    latest = repo.latest_cob_date(session)
    run = repo.cob_run_for(session, latest) if latest is not None else None
    return next_day_to_close(
        business_date=business_date(session, ctx),
        last_closed=latest,
        last_run_complete=run is None or run.status == "completed",
    )


def close_due_days(ctx: LoansContext, *, actor: str, max_days: int) -> list[CobSummary]:
    """Close every day due, in order, at most ``max_days`` of them; their summaries (none when
    another worker is closing: it closes them)."""
    closed: list[CobSummary] = []
    with held_exclusively(ctx.db, COB_LOCK) as held:
        while held and len(closed) < max_days:
            with ctx.db.unit_of_work(read_only=True) as session:
                day = due_for_close(session, ctx)
            if day is None:
                break
            closed.append(_close_day(ctx, as_of=day, actor=actor))
    return closed
