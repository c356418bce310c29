"""The background worker loop: periodic jobs run on their own intervals until stopped.

Platform jobs per service (outbox fan-out, webhook delivery, idempotency purge) come from
``platform_jobs``; each service adds its own (escrow timers, loans close of business, ...).
Each job runs in its own thread on its own interval, so a slow one (a hanging webhook
subscriber, a long training) delays no other; a failing job is logged and retried on its
next run. When the worker stops, every job finishes its current call (a job working through
items checks ``stop_requested`` between them) within a grace period.

``claim_each`` is the loop of a job that works through rows one at a time: claim one row
(``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas never take the same row)
and work on it in one short transaction, until nothing is left, the batch is done or the
worker is stopping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from datetime import timedelta
from typing import TypeVar

import httpx
from sqlalchemy.orm import Session

from shared.audit import anchor_chains
from shared.db import Database
from shared.idempotency import purge_expired
from shared.observability import set_request_id
from shared.platform import ServiceContext
from shared.webhook_delivery import deliver_due, dispatch_events

log = logging.getLogger("agrifin.worker")

Job = tuple[str, float, Callable[[], object]]
"""(name, interval in seconds, callable) run by the worker."""

T = TypeVar("T")

_current_stop: ContextVar[threading.Event | None] = ContextVar("agrifin_worker_stop", default=None)
"""The stop event of the worker loop running the current thread's job."""


def claim_each(
    db: Database,
    *,
    limit: int,
    claim: Callable[[Session], T | None],
    work: Callable[[Session, T], int | None],
) -> int:
    """Claim and work one item per transaction, up to ``limit``; return the items done.

    ``work`` may return how many things it did for the item (None counts as one).
    """
    done = 0
    for _ in range(limit):
        if stop_requested():
            break
        with db.unit_of_work() as session:
            item = claim(session)
            if item is None:
                break
            result = work(session, item)
            done += 1 if result is None else result
    return done


def platform_jobs(ctx: ServiceContext, client: httpx.Client) -> list[Job]:
    """Outbox dispatch, webhook delivery, idempotency purge and audit anchoring for one service."""
    name = ctx.definition.name

    def dispatch() -> int:
        return dispatch_events(ctx.db, ctx.tables, now=ctx.clock.now())

    def deliver() -> int:
        return deliver_due(ctx.db, ctx.tables, ctx.keyring, client, now=ctx.clock.now)

    def purge() -> int:
        with ctx.db.unit_of_work() as session:
            return purge_expired(
                session,
                ctx.tables,
                now=ctx.clock.now(),
                ttl=timedelta(hours=max(ctx.settings.idempotency_ttl_hours, 24)),
            )

    def anchor() -> int:
        return anchor_chains(
            ctx.db, ctx.tables, ctx.keyring, now=ctx.clock.now(), actor=f"system:{name}.worker"
        )

    return [
        (f"{name}.outbox.dispatch", 1.0, dispatch),
        (f"{name}.webhooks.deliver", 1.0, deliver),
        (f"{name}.idempotency.purge", 3600.0, purge),
        (f"{name}.audit.anchor", ctx.settings.audit_anchor_seconds, anchor),
    ]


def stop_requested() -> bool:
    """True inside a worker job once the worker was asked to stop: finish the item, take no more."""
    stop = _current_stop.get()
    return stop is not None and stop.is_set()


def _job_loop(name: str, interval: float, job: Callable[[], object], stop: threading.Event) -> None:
    _current_stop.set(stop)
    while not stop.is_set():
        set_request_id(f"job:{name}")
        try:
            job()
        except Exception:
            log.exception("job %s failed; will retry", name)
        finally:
            set_request_id(None)
        stop.wait(interval)


def run_jobs(jobs: Sequence[Job], stop: threading.Event, *, grace: float | None = None) -> list[str]:
    """Run each job in its own thread on its own interval until ``stop`` is set.

    Then wait up to ``grace`` seconds (None: as long as it takes) for the jobs still running
    to finish their current call; return the names of those that did not.
    """
    threads = [
        threading.Thread(target=_job_loop, args=(name, interval, job, stop), name=name, daemon=True)
        for name, interval, job in jobs
    ]
    for thread in threads:
        thread.start()
    stop.wait()
    deadline = None if grace is None else time.monotonic() + grace
    for thread in threads:
        thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
    return [thread.name for thread in threads if thread.is_alive()]
