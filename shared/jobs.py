"""Long work as jobs: a request records one and answers 202, the worker runs it, callers poll.

A route that starts long work (training, close of business) validates, calls
``enqueue_job`` in the request's own transaction and answers ``202`` with the job
(``accepted`` sets ``Location: /v1/jobs/{id}``); an Idempotency-Key replay therefore answers
the same job. ``jobs_router`` serves ``GET /v1/jobs/{id}``: status, progress, elapsed
time, and the result or a plain-words error.

The worker runs queued jobs through ``job_runner`` (one periodic job per service, from its
``jobs.py``, with a handler registered per kind). ``claim_job`` takes the oldest runnable
job (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) under a lease; the handler is called with no
transaction open and opens its own short ones; a heartbeat keeps the lease while it runs.
A job still ``running`` after its lease lost its worker and is claimed again, up to
``MAX_ATTEMPTS``. A stopping worker interrupts a job at its next ``JobRun.checkpoint``
(after an item was recorded), and the job goes back to the queue.

States: ``queued`` -> ``running`` -> ``succeeded`` | ``failed`` (``running`` -> ``queued``
when interrupted, or when its worker died).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from shared.api import ContextDep, SessionDep, service_router
from shared.auth import Role, require_roles
from shared.clock import as_utc, utc_iso
from shared.db import Database, new_id
from shared.errors import NotFound, ProblemError
from shared.platform import ServiceContext
from shared.platform_tables import PlatformTables
from shared.worker import stop_requested

log = logging.getLogger("agrifin.jobs")

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
JobStatus = Literal["queued", "running", "succeeded", "failed"]
MAX_ATTEMPTS = 3
LEASE = timedelta(seconds=60)
HEARTBEAT_SECONDS = 10.0
PROGRESS_WRITE_SECONDS = 1.0


class JobInterrupted(Exception):
    """Raised by ``JobRun.checkpoint`` when the worker is stopping: the job is queued again."""


class JobOut(BaseModel):
    """A job: what it is, how far it got, and its result or error."""

    job_id: str
    kind: str
    status: JobStatus
    progress: dict[str, Any]
    elapsed_seconds: float
    result: dict[str, Any] | None
    error: str | None
    attempt: int
    created_by: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    href: str


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def job_view(row: Mapping[Any, Any], *, now: datetime) -> JobOut:
    """A stored job as the API shows it (``elapsed_seconds``: since it was queued, until it ended)."""
    created = as_utc(row["created_at"])
    end = as_utc(row["finished_at"]) if row["finished_at"] is not None else now
    return JobOut(
        job_id=row["id"],
        kind=row["kind"],
        status=row["state"],
        progress=json.loads(row["progress"] or "{}"),
        elapsed_seconds=round(max(0.0, (end - created).total_seconds()), 3),
        result=json.loads(row["result"]) if row["result"] is not None else None,
        error=row["error"],
        attempt=row["attempt"],
        created_by=row["created_by"],
        created_at=utc_iso(created),
        started_at=utc_iso(row["started_at"]) if row["started_at"] is not None else None,
        finished_at=utc_iso(row["finished_at"]) if row["finished_at"] is not None else None,
        href=f"/v1/jobs/{row['id']}",
    )


def enqueue_job(
    session: Session, ctx: ServiceContext, *, kind: str, payload: Mapping[str, Any], actor: str
) -> JobOut:
    """Record a queued job in the caller's transaction; it runs once that commits."""
    t = ctx.tables.jobs
    values = {
        "id": new_id(),
        "kind": kind,
        "state": QUEUED,
        "payload": _dumps(dict(payload)),
        "progress": None,
        "result": None,
        "error": None,
        "created_by": actor,
        "created_at": ctx.clock.now(),
        "started_at": None,
        "finished_at": None,
        "lease_token": None,
        "lease_until": None,
        "attempt": 0,
    }
    session.execute(t.insert().values(**values))
    return job_view(values, now=ctx.clock.now())


def accepted(response: Response, job: JobOut) -> JobOut:
    """Point ``Location`` at the job to poll; return it for the 202 body."""
    response.headers["Location"] = job.href
    return job


def get_job(session: Session, ctx: ServiceContext, job_id: str) -> JobOut:
    """A job of this service, or NotFound."""
    t = ctx.tables.jobs
    row = session.execute(select(t).where(t.c.id == job_id)).mappings().first()
    if row is None:
        raise NotFound(f"no job {job_id!r}")
    return job_view(row, now=ctx.clock.now())


def jobs_router(*readers: Role) -> APIRouter:
    """``GET /v1/jobs/{id}`` for ``readers`` (each service names who may poll its jobs)."""
    router = service_router(prefix="/v1", tags=["jobs"])

    @router.get("/jobs/{job_id}", response_model=JobOut, dependencies=[Depends(require_roles(*readers))])
    def read_job(
        ctx: ContextDep, session: SessionDep, job_id: str = Path(min_length=1, max_length=36)
    ) -> JobOut:
        """A job: status, progress, elapsed seconds, and its result or error."""
        return get_job(session, ctx, job_id)

    return router


# ---------------------------------------------------------------- the worker side


@dataclass(frozen=True)
class ClaimedJob:
    """A job this worker holds the lease of."""

    id: str
    kind: str
    payload: dict[str, Any]
    actor: str
    attempt: int
    lease_token: str
    progress: dict[str, Any]


def claim_job(
    db: Database, tables: PlatformTables, *, kinds: Sequence[str], now: datetime, lease: timedelta = LEASE
) -> ClaimedJob | None:
    """Take the oldest queued (or abandoned) job of ``kinds`` under a lease, in one transaction."""
    t = tables.jobs
    runnable = or_(t.c.state == QUEUED, and_(t.c.state == RUNNING, t.c.lease_until < now))
    with db.unit_of_work() as session:
        while True:
            row = (
                session.execute(
                    select(t)
                    .where(t.c.kind.in_(list(kinds)), runnable)
                    .order_by(t.c.created_at, t.c.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                .mappings()
                .first()
            )
            if row is None:
                return None
            if row["state"] == RUNNING and row["attempt"] >= MAX_ATTEMPTS:
                error = (
                    f"the worker running this job stopped {row['attempt']} times before it finished; "
                    "it is not tried again"
                )
                session.execute(
                    update(t)
                    .where(t.c.id == row["id"])
                    .values(state=FAILED, error=error, finished_at=now, lease_token=None, lease_until=None)
                )
                log.error("job %s (%s) failed: %s", row["id"], row["kind"], error)
                continue
            token = new_id()
            session.execute(
                update(t)
                .where(t.c.id == row["id"])
                .values(
                    state=RUNNING,
                    attempt=row["attempt"] + 1,
                    lease_token=token,
                    lease_until=now + lease,
                    started_at=row["started_at"] or now,
                )
            )
            return ClaimedJob(
                id=row["id"],
                kind=row["kind"],
                payload=json.loads(row["payload"]),
                actor=row["created_by"],
                attempt=row["attempt"] + 1,
                lease_token=token,
                progress=json.loads(row["progress"] or "{}"),
            )


@dataclass
class JobRun:
    """What a handler gets: the job's payload and who started it, and a way to report progress."""

    job: ClaimedJob
    _write: Callable[[dict[str, Any]], None]
    progress: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _written_at: float = 0.0
    _dirty: bool = False

    @property
    def payload(self) -> dict[str, Any]:
        """The job's payload as enqueued."""
        return self.job.payload

    @property
    def actor(self) -> str:
        """Who started the job (its changes are recorded in their name)."""
        return self.job.actor

    def report(self, **progress: Any) -> None:
        """Merge ``progress`` into the job's; stored at once on a new stage, else at most once a second."""
        with self._lock:
            new_stage = "stage" in progress and progress["stage"] != self.progress.get("stage")
            self.progress.update(progress)
            self._dirty = True
            due = new_stage or time.monotonic() - self._written_at >= PROGRESS_WRITE_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        """Store the progress reported since the last write."""
        with self._lock:
            if not self._dirty:
                return
            snapshot, self._dirty, self._written_at = dict(self.progress), False, time.monotonic()
        self._write(snapshot)

    def checkpoint(self) -> None:
        """A point where stopping loses nothing: raise JobInterrupted if the worker is stopping."""
        if stop_requested():
            raise JobInterrupted(f"job {self.job.id} interrupted: the worker is stopping")


Handler = Callable[[JobRun], dict[str, Any]]
"""Runs one job to its result (JSON-able); raises a ProblemError whose detail says why it failed."""


def _store(ctx: ServiceContext, job: ClaimedJob, **values: Any) -> bool:
    """Write to the job if this worker still holds its lease; False when it lost it."""
    t = ctx.tables.jobs
    with ctx.db.unit_of_work() as session:
        result = session.execute(
            update(t).where(t.c.id == job.id, t.c.lease_token == job.lease_token).values(**values)
        )
        held = bool(result.rowcount)  # type: ignore[attr-defined]
    if not held:
        log.warning("job %s: this worker lost its lease; nothing stored", job.id)
    return held


def _heartbeat(ctx: ServiceContext, run: JobRun, done: threading.Event, lease: timedelta) -> None:
    while not done.wait(HEARTBEAT_SECONDS):
        try:
            run.flush()
            _store(ctx, run.job, lease_until=ctx.clock.now() + lease)
        except Exception:
            log.exception("job %s: cannot extend its lease", run.job.id)


def run_job(ctx: ServiceContext, job: ClaimedJob, handler: Handler, *, lease: timedelta = LEASE) -> str:
    """Run a claimed job with ``handler`` (no transaction open) and store how it ended; the new state."""

    def write(progress: dict[str, Any]) -> None:
        _store(ctx, job, progress=_dumps(progress))

    run = JobRun(job=job, _write=write, progress=dict(job.progress))
    done = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(ctx, run, done, lease), daemon=True)
    beat.start()
    ended: dict[str, Any]
    try:
        result = handler(run)
        ended = {"state": SUCCEEDED, "result": _dumps(result)}
    except JobInterrupted:
        log.info("job %s (%s) interrupted; queued again", job.id, job.kind)
        ended = {"state": QUEUED, "attempt": job.attempt - 1}  # a clean stop is not a failed attempt
    except ProblemError as exc:
        ended = {"state": FAILED, "error": exc.detail}
    except Exception as exc:
        log.exception("job %s (%s) failed", job.id, job.kind)
        ended = {
            "state": FAILED,
            "error": f"the job failed unexpectedly ({type(exc).__name__}); the worker's log has the details",
        }
    finally:
        done.set()
        beat.join()
    finished = ctx.clock.now() if ended["state"] != QUEUED else None
    _store(
        ctx,
        job,
        progress=_dumps(run.progress),
        finished_at=finished,
        lease_token=None,
        lease_until=None,
        **ended,
    )
    log.info("job %s (%s) %s", job.id, job.kind, ended["state"])
    return str(ended["state"])


def run_queued_jobs(ctx: ServiceContext, handlers: Mapping[str, Handler], *, limit: int = 10) -> int:
    """Claim and run up to ``limit`` jobs of the handlers' kinds, one at a time; the number run.

    Stops claiming when the worker is stopping.
    """
    ran = 0
    while ran < limit and not stop_requested():
        job = claim_job(ctx.db, ctx.tables, kinds=sorted(handlers), now=ctx.clock.now())
        if job is None:
            break
        run_job(ctx, job, handlers[job.kind])
        ran += 1
    return ran


def job_runner(ctx: ServiceContext, handlers: Mapping[str, Handler]) -> Callable[[], int]:
    """The worker's periodic job that runs this service's queued jobs."""
    return lambda: run_queued_jobs(ctx, handlers)
