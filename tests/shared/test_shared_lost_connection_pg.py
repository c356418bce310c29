"""A PostgreSQL connection lost under a request (the pool does not ping at checkout): lost
before the commit, the request runs again on a fresh connection and takes effect once; lost
while committing, the answer is a 503 asking for the same Idempotency-Key again."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import Engine, create_engine, event, text

from shared.api import ContextDep, SessionDep, service_router
from shared.app import create_service_app
from shared.auth import Principal, Role, require_roles
from shared.changes import record_change
from shared.platform import ServiceContext
from tests.support import assert_problem, auth, count_rows, issue_key

Writer = Annotated[Principal, Depends(require_roles(Role.ADMIN))]


class NoteIn(BaseModel):
    text: str


def _router() -> Any:
    router = service_router(prefix="/t")

    @router.post("/notes", status_code=201)
    def write_note(body: NoteIn, ctx: ContextDep, session: SessionDep, who: Writer) -> dict[str, str]:
        record_change(
            session, ctx, actor=who.actor, action="note.written", subject="note", payload=body.model_dump()
        )
        return {"text": body.text}

    return router


@pytest.fixture
def ctx(make_ctx: Callable[[str], ServiceContext]) -> ServiceContext:
    ctx = make_ctx("escrow")
    if ctx.db.is_sqlite:
        pytest.skip("connections are lost on PostgreSQL; SQLite is a file")
    return ctx


@pytest.fixture
def admin_engine(ctx: ServiceContext) -> Iterator[Engine]:
    engine = create_engine(ctx.db.url)
    yield engine
    engine.dispose()


@pytest.fixture
def client(ctx: ServiceContext, client_for: Callable[..., TestClient]) -> TestClient:
    app: FastAPI = create_service_app(ctx, title="t", description="t", routers=[_router()])
    return client_for(app, raise_server_exceptions=False)


def _kill(admin_engine: Engine, *, pids: list[int] | None = None) -> None:
    """Terminate the service's connections (every one but the admin's own, or just ``pids``) and
    wait until they are gone."""
    with admin_engine.connect() as conn:
        if pids is None:
            pids = list(
                conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalars()
            )
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) AS pid"), {"pids": pids}
        )
        for _ in range(200):
            left = conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(CAST(:pids AS int[]))"),
                {"pids": pids},
            ).scalar_one()
            conn.commit()  # pg_stat_activity is a snapshot per transaction: look again in a new one
            if left == 0:
                return
            time.sleep(0.05)
    raise AssertionError(f"the connections {pids} did not go")


def test_a_connection_lost_before_the_commit_runs_the_request_again(
    ctx: ServiceContext, client: TestClient, admin_engine: Engine
) -> None:
    admin, auditor = issue_key(ctx, Role.ADMIN), issue_key(ctx, Role.AUDITOR)
    assert client.post("/t/notes", json={"text": "warm"}, headers=auth(admin)).status_code == 201
    _kill(admin_engine)  # every pooled connection is dead now; the pool does not know it
    answer = client.post("/t/notes", json={"text": "after"}, headers=auth(admin, **{"Idempotency-Key": "n1"}))
    assert answer.status_code == 201, answer.text
    assert answer.headers.get("idempotent-replayed") is None
    assert count_rows(ctx, ctx.tables.outbox) == 2  # once each: the lost attempt left nothing
    _kill(admin_engine)
    assert client.get("/v1/audit/entries", headers=auth(auditor)).status_code == 200  # a read, again


def test_a_connection_lost_while_committing_asks_for_the_same_key_again(
    ctx: ServiceContext, client: TestClient, admin_engine: Engine
) -> None:
    admin = issue_key(ctx, Role.ADMIN)
    headers = auth(admin, **{"Idempotency-Key": "n2"})
    trap = {"armed": True}

    def lose_it_at_commit(conn: Any) -> None:
        if trap["armed"] and conn.info.get("writing_note"):
            trap["armed"] = False
            _kill(admin_engine, pids=[conn.connection.dbapi_connection.info.backend_pid])

    def mark_writes(conn: Any, clauseelement: Any, *_: Any) -> None:
        if "outbox" in str(clauseelement):
            conn.info["writing_note"] = True

    event.listen(ctx.db.engine, "before_execute", mark_writes)
    event.listen(ctx.db.engine, "commit", lose_it_at_commit)
    try:
        lost = client.post("/t/notes", json={"text": "x"}, headers=headers)
    finally:
        event.remove(ctx.db.engine, "commit", lose_it_at_commit)
        event.remove(ctx.db.engine, "before_execute", mark_writes)
    problem = assert_problem(lost, 503)
    assert "same Idempotency-Key" in problem["detail"]
    assert count_rows(ctx, ctx.tables.outbox) == 0  # it did not commit (the server never got COMMIT)
    again = client.post("/t/notes", json={"text": "x"}, headers=headers)
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") is None
    assert count_rows(ctx, ctx.tables.outbox) == 1
