"""Long work as jobs (``shared.jobs``): a request queues one and answers 202, the runner runs
it with progress, and GET /v1/jobs/{id} reports status, progress, result or a plain error.
Crash recovery by lease, a stopping worker's interruption, and (on PostgreSQL) SKIP LOCKED.

Runs on SQLite and, when AGRIFIN_TEST_POSTGRES_URL is set, on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Response
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import select, update

from shared.api import ContextDep, SessionDep, service_router
from shared.app import create_service_app
from shared.auth import Principal, Role, require_roles
from shared.clock import ManualClock
from shared.errors import ValidationProblem
from shared.jobs import (
    FAILED,
    LEASE,
    MAX_ATTEMPTS,
    QUEUED,
    RUNNING,
    JobOut,
    JobRun,
    accepted,
    claim_job,
    enqueue_job,
    job_runner,
    jobs_router,
    run_job,
    run_queued_jobs,
)
from shared.platform import ServiceContext
from shared.worker import run_jobs
from tests.support import assert_problem, auth, count_rows, issue_key

Admin = Annotated[Principal, Depends(require_roles(Role.ADMIN))]


class CountIn(BaseModel):
    to: int
    fail: str | None = None


def _router() -> Any:
    router = service_router(prefix="/t")

    @router.post("/count", status_code=202, response_model=JobOut)
    def count(body: CountIn, ctx: ContextDep, session: SessionDep, response: Response, who: Admin) -> JobOut:
        return accepted(
            response, enqueue_job(session, ctx, kind="test.count", payload=body.model_dump(), actor=who.actor)
        )

    return router


def _count(run: JobRun) -> dict[str, Any]:
    """Counts to ``to`` (one item each), checkpointing between items; fails when asked to."""
    if run.payload["fail"] == "problem":
        raise ValidationProblem([("to", "cannot count that far")], detail="to: cannot count that far")
    if run.payload["fail"] == "crash":
        raise RuntimeError("secret internals")
    for i in range(1, run.payload["to"] + 1):
        run.report(stage="counting", counted=i)
        run.checkpoint()
    return {"counted": run.payload["to"], "by": run.actor}


HANDLERS = {"test.count": _count}
ONE = {"to": 1, "fail": None}


@pytest.fixture
def ctx(make_ctx: Callable[[str], ServiceContext]) -> ServiceContext:
    return make_ctx("escrow")


@pytest.fixture
def client(ctx: ServiceContext, client_for: Callable[..., TestClient]) -> TestClient:
    app: FastAPI = create_service_app(
        ctx, title="t", description="t", routers=[_router(), jobs_router(Role.ADMIN, Role.AUDITOR)]
    )
    return client_for(app, raise_server_exceptions=False)


def _job(ctx: ServiceContext, job_id: str) -> dict[str, Any]:
    t = ctx.tables.jobs
    with ctx.db.unit_of_work(read_only=True) as session:
        return dict(session.execute(select(t).where(t.c.id == job_id)).mappings().one())


def test_a_request_queues_a_job_that_the_runner_runs(
    ctx: ServiceContext, client: TestClient, clock: ManualClock
) -> None:
    admin, auditor = issue_key(ctx, Role.ADMIN), issue_key(ctx, Role.AUDITOR)
    response = client.post("/t/count", json={"to": 3}, headers=auth(admin))
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == job["href"] == f"/v1/jobs/{job['job_id']}"
    assert (job["status"], job["progress"], job["result"], job["error"]) == ("queued", {}, None, None)
    # Nothing ran in the request: the job waits for the worker.
    polled = client.get(job["href"], headers=auth(auditor)).json()
    assert polled["status"] == "queued" and polled["started_at"] is None
    clock.advance(timedelta(seconds=2))
    assert run_queued_jobs(ctx, HANDLERS) == 1
    done = client.get(job["href"], headers=auth(auditor)).json()
    assert done["status"] == "succeeded", done
    assert done["result"] == {"counted": 3, "by": job["created_by"]}
    assert done["progress"] == {"stage": "counting", "counted": 3}
    assert done["attempt"] == 1 and done["elapsed_seconds"] == 2.0
    assert done["started_at"] and done["finished_at"]
    assert run_queued_jobs(ctx, HANDLERS) == 0  # nothing left


def test_who_may_poll_and_unknown_jobs(ctx: ServiceContext, client: TestClient) -> None:
    job = client.post("/t/count", json={"to": 1}, headers=auth(issue_key(ctx, Role.ADMIN))).json()
    for role, owner in ((Role.LOAN_OFFICER, None), (Role.MARKETPLACE, "m1")):
        assert_problem(client.get(job["href"], headers=auth(issue_key(ctx, role, owner))), 403)
    assert_problem(client.get(job["href"]), 401)
    assert_problem(client.get("/v1/jobs/nope", headers=auth(issue_key(ctx, Role.ADMIN))), 404)


def test_an_idempotent_replay_answers_the_same_job(ctx: ServiceContext, client: TestClient) -> None:
    headers = auth(issue_key(ctx, Role.ADMIN), **{"Idempotency-Key": "count-1"})
    first = client.post("/t/count", json={"to": 2}, headers=headers)
    again = client.post("/t/count", json={"to": 2}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["job_id"] == first.json()["job_id"]
    assert count_rows(ctx, ctx.tables.jobs) == 1


def test_a_failed_job_says_why_in_plain_words(ctx: ServiceContext, client: TestClient) -> None:
    admin = auth(issue_key(ctx, Role.ADMIN))
    problem = client.post("/t/count", json={"to": 1, "fail": "problem"}, headers=admin).json()
    crash = client.post("/t/count", json={"to": 1, "fail": "crash"}, headers=admin).json()
    assert run_queued_jobs(ctx, HANDLERS) == 2
    failed = client.get(problem["href"], headers=admin).json()
    assert (failed["status"], failed["error"], failed["result"]) == (
        "failed",
        "to: cannot count that far",
        None,
    )
    crashed = client.get(crash["href"], headers=admin).json()
    assert crashed["status"] == "failed"
    assert "RuntimeError" in crashed["error"] and "secret" not in crashed["error"]


def test_a_dead_workers_job_is_claimed_again_after_its_lease(ctx: ServiceContext, clock: ManualClock) -> None:
    with ctx.db.unit_of_work() as session:
        job_id = enqueue_job(
            session, ctx, kind="test.count", payload={"to": 1, "fail": None}, actor="t"
        ).job_id
    first = claim_job(ctx.db, ctx.tables, kinds=["test.count"], now=clock.now())
    assert first is not None and first.attempt == 1
    # The worker died holding it: nobody else takes it while the lease lasts ...
    assert claim_job(ctx.db, ctx.tables, kinds=["test.count"], now=clock.now()) is None
    # ... and after it another worker does, and its writes win; the dead one's are refused.
    clock.advance(LEASE + timedelta(seconds=1))
    second = claim_job(ctx.db, ctx.tables, kinds=["test.count"], now=clock.now())
    assert second is not None and second.id == job_id and second.attempt == 2
    assert second.lease_token != first.lease_token
    assert run_queued_jobs(ctx, HANDLERS) == 0
    assert run_job(ctx, second, _count) == "succeeded"
    assert _job(ctx, job_id)["state"] == "succeeded"


def test_a_job_whose_worker_keeps_dying_fails_after_max_attempts(
    ctx: ServiceContext, clock: ManualClock
) -> None:
    with ctx.db.unit_of_work() as session:
        job_id = enqueue_job(
            session, ctx, kind="test.count", payload={"to": 1, "fail": None}, actor="t"
        ).job_id
    for attempt in range(1, MAX_ATTEMPTS + 1):
        claimed = claim_job(ctx.db, ctx.tables, kinds=["test.count"], now=clock.now())
        assert claimed is not None and claimed.attempt == attempt
        clock.advance(LEASE + timedelta(seconds=1))
    assert claim_job(ctx.db, ctx.tables, kinds=["test.count"], now=clock.now()) is None
    row = _job(ctx, job_id)
    assert row["state"] == FAILED and f"stopped {MAX_ATTEMPTS} times" in row["error"]


def test_a_stopping_worker_interrupts_between_items_and_requeues(
    ctx: ServiceContext, clock: ManualClock
) -> None:
    """The runner, as the worker runs it: stop arrives mid-job; the item in hand is recorded,
    the job goes back to the queue (the attempt not counted) and nothing more is claimed."""
    with ctx.db.unit_of_work() as session:
        slow = enqueue_job(session, ctx, kind="test.slow", payload={}, actor="t").job_id
        clock.advance(timedelta(seconds=1))
        waiting = enqueue_job(session, ctx, kind="test.slow", payload={}, actor="t").job_id
    stop, started, release = threading.Event(), threading.Event(), threading.Event()

    def slow_item(run: JobRun) -> dict[str, Any]:
        started.set()
        release.wait(10)
        run.report(stage="item", done=1)
        run.checkpoint()
        run.report(stage="never")  # not reached: the worker is stopping
        return {}

    worker = threading.Thread(
        target=run_jobs, args=([("t.jobs.run", 0.05, job_runner(ctx, {"test.slow": slow_item}))], stop)
    )
    worker.start()
    assert started.wait(10)
    stop.set()
    release.set()
    worker.join(10)
    assert not worker.is_alive()
    first = _job(ctx, slow)
    assert (first["state"], first["attempt"], first["lease_token"]) == (QUEUED, 0, None)
    assert '"done":1' in first["progress"] and "never" not in first["progress"]
    assert _job(ctx, waiting)["state"] == QUEUED and _job(ctx, waiting)["started_at"] is None


def test_two_workers_never_claim_the_same_job(backend: str, ctx: ServiceContext) -> None:
    if backend == "sqlite":
        pytest.skip("row locks (SKIP LOCKED) are PostgreSQL's; SQLite serialises writers")
    with ctx.db.unit_of_work() as session:
        for _ in range(2):
            enqueue_job(session, ctx, kind="test.count", payload={"to": 1, "fail": None}, actor="t")
    t = ctx.tables.jobs
    # One worker is inside its claim transaction, holding the oldest row's lock ...
    with ctx.db.unit_of_work() as held:
        locked = held.execute(
            select(t.c.id).order_by(t.c.created_at, t.c.id).limit(1).with_for_update()
        ).scalar_one()
        # ... the other skips that row and takes the next, without waiting.
        other = claim_job(ctx.db, ctx.tables, kinds=["test.count"], now=ctx.clock.now())
        assert other is not None and other.id != locked
        held.execute(update(t).where(t.c.id == locked).values(state=RUNNING))
    assert claim_job(ctx.db, ctx.tables, kinds=["test.count"], now=ctx.clock.now()) is None
