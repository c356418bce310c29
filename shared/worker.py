"""The background worker loop: periodic jobs run on their own intervals until stopped.

Platform jobs per service (outbox fan-out, webhook delivery, idempotency purge) come from
``platform_jobs``; each service adds its own (escrow timers, loans close of business, ...).
A failing job is logged and retried on its next tick; it never stops the others.

``claim_each`` is the loop of a job that works through rows one at a time: claim one row
(``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so replicas never take the same row)
and work on it in one short transaction, until nothing is left or the batch is done.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TypeVar

import httpx
from sqlalchemy.orm import Session

from shared.db import Database
from shared.idempotency import purge_expired
from shared.observability import set_request_id
from shared.platform import ServiceContext
from shared.webhook_delivery import deliver_due, dispatch_events

log = logging.getLogger("agrifin.worker")

Job = tuple[str, float, Callable[[], object]]
"""(name, interval in seconds, callable) run by the worker."""

T = TypeVar("T")


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
        with db.unit_of_work() as session:
            item = claim(session)
            if item is None:
                break
            result = work(session, item)
            done += 1 if result is None else result
    return done


def platform_jobs(ctx: ServiceContext, client: httpx.Client) -> list[Job]:
    """Outbox dispatch, webhook delivery and idempotency purge for one service."""
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

    return [
        (f"{name}.outbox.dispatch", 1.0, dispatch),
        (f"{name}.webhooks.deliver", 1.0, deliver),
        (f"{name}.idempotency.purge", 3600.0, purge),
    ]


def run_jobs(jobs: Sequence[Job], stop: threading.Event, *, tick: float = 0.25) -> None:
    """Run ``jobs`` on their intervals until ``stop`` is set."""
    next_run = {name: 0.0 for name, _, _ in jobs}
    while not stop.is_set():
        now = time.monotonic()
        for name, interval, job in jobs:
            if now < next_run[name]:
                continue
            set_request_id(f"job:{name}")
            try:
                job()
            except Exception:
                log.exception("job %s failed; will retry", name)
            finally:
                set_request_id(None)
            next_run[name] = time.monotonic() + interval
        stop.wait(tick)
