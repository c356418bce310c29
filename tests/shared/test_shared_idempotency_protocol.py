"""The Idempotency-Key protocol inside the request's own transaction (shared.api, shared.idempotency).

The claim is the first statement of the request's write transaction and its completion the
last before the commit: a keyed POST costs two statements and no transaction of its own,
concurrent duplicates make one effect and replay it, a failure leaves no claim behind, and
records of the old protocol (a lease in ``locked_until``) are taken over once it expired.
Runs on SQLite and, when AGRIFIN_TEST_POSTGRES_URL is set, on PostgreSQL.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import event, select

from shared.api import ContextDep, SessionDep, service_router
from shared.app import create_service_app
from shared.audit import append_audit
from shared.auth import Principal, Role, hash_api_key, require_roles
from shared.errors import Conflict
from shared.idempotency import request_fingerprint
from shared.platform import ServiceContext
from shared.webhooks import emit_event
from tests.support import assert_problem, auth, count_rows, issue_key, race

Writer = Annotated[Principal, Depends(require_roles(Role.ADMIN))]

_FAILED_ONCE: set[str] = set()
"""Names whose first attempt has failed: ``fail_once`` fails a request the first time only."""
_RUNS = itertools.count(1)


class ThingIn(BaseModel):
    name: str
    fail_once: bool = False


def _router() -> Any:
    router = service_router(prefix="/p")

    @router.post("/things", status_code=201)
    def create_thing(body: ThingIn, ctx: ContextDep, session: SessionDep, who: Writer) -> dict[str, Any]:
        for recorder in _RECORDERS:
            recorder.armed = True
        now = ctx.clock.now()
        event_id = emit_event(
            session, ctx.tables, topic="thing.created", subject=body.name, data={"name": body.name}, now=now
        )
        append_audit(
            session,
            ctx.tables,
            ctx.keyring,
            actor=who.actor,
            action="thing.created",
            subject=body.name,
            payload={"name": body.name},
            now=now,
        )
        if body.fail_once and body.name not in _FAILED_ONCE:
            _FAILED_ONCE.add(body.name)
            raise Conflict("not this time", current_state="busy")
        return {"event_id": event_id, "name": body.name, "run": next(_RUNS)}

    @router.post("/quotes")
    def quote(body: ThingIn, _: Writer) -> dict[str, Any]:
        """Writes nothing: its answer must be stored all the same."""
        return {"name": body.name, "run": next(_RUNS)}

    return router


@pytest.fixture(autouse=True)
def _fresh_failures() -> None:
    _FAILED_ONCE.clear()


@pytest.fixture
def ctx(make_ctx: Callable[[str], ServiceContext]) -> ServiceContext:
    return make_ctx("escrow")


@pytest.fixture
def client(ctx: ServiceContext, client_for: Callable[..., TestClient]) -> TestClient:
    app: FastAPI = create_service_app(ctx, title="p", description="p", routers=[_router()])
    return client_for(app, raise_server_exceptions=False)


@pytest.fixture
def admin(ctx: ServiceContext) -> str:
    return issue_key(ctx, Role.ADMIN)


def _records(ctx: ServiceContext) -> list[Any]:
    t = ctx.tables.idempotency
    with ctx.db.unit_of_work(read_only=True) as session:
        return list(session.execute(select(t)).all())


def test_concurrent_duplicates_make_one_effect_and_all_the_others_replay_it(
    client: TestClient, ctx: ServiceContext, admin: str
) -> None:
    headers = auth(admin, **{"Idempotency-Key": "together"})
    responses = race(8, lambda _: client.post("/p/things", json={"name": "a"}, headers=headers))
    assert [r.status_code for r in responses] == [201] * 8
    first = [r for r in responses if "idempotent-replayed" not in r.headers]
    assert len(first) == 1
    assert all(r.headers.get("idempotent-replayed") == "true" for r in responses if r is not first[0])
    assert {r.text for r in responses} == {first[0].text}
    assert count_rows(ctx, ctx.tables.outbox) == 1
    assert count_rows(ctx, ctx.tables.audit_log) == 1
    assert [r.state for r in _records(ctx)] == ["completed"]


def test_a_post_that_writes_nothing_still_stores_its_response(
    client: TestClient, ctx: ServiceContext, admin: str
) -> None:
    headers = auth(admin, **{"Idempotency-Key": "quote-1"})
    first = client.post("/p/quotes", json={"name": "q"}, headers=headers)
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    assert [(r.state, r.response_status) for r in _records(ctx)] == [("completed", 200)]
    again = client.post("/p/quotes", json={"name": "q"}, headers=headers)
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    other = client.post("/p/quotes", json={"name": "q"}, headers=auth(admin))  # no key: runs again
    assert other.json()["run"] != first.json()["run"]
    assert_problem(client.post("/p/quotes", json={"name": "r"}, headers=headers), 422)


def test_a_failed_request_leaves_no_claim_and_its_retry_runs(
    client: TestClient, ctx: ServiceContext, admin: str
) -> None:
    headers = auth(admin, **{"Idempotency-Key": "retry"})
    body = {"name": "flaky", "fail_once": True}
    assert_problem(client.post("/p/things", json=body, headers=headers), 409)
    assert _records(ctx) == []
    assert count_rows(ctx, ctx.tables.outbox) == 0
    retry = client.post("/p/things", json=body, headers=headers)
    assert retry.status_code == 201 and "idempotent-replayed" not in retry.headers
    assert count_rows(ctx, ctx.tables.outbox) == 1
    replay = client.post("/p/things", json=body, headers=headers)
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == retry.json()
    assert count_rows(ctx, ctx.tables.outbox) == 1


class _Recorder:
    """Statements and transactions on the service's engine once an endpoint has started."""

    def __init__(self) -> None:
        self.armed = False
        self.statements: list[str] = []
        self.begun = 0

    def on_statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self.armed:
            self.statements.append(" ".join(statement.split()))

    def on_begin(self, _conn: Any) -> None:
        if self.armed:
            self.begun += 1


_RECORDERS: list[_Recorder] = []
"""Armed by ``/p/things`` when it starts: what authentication reads (a per-process key cache
decides whether it reads at all) is no part of the count."""


@contextmanager
def _recording(ctx: ServiceContext) -> Iterator[_Recorder]:
    """Record the endpoint's part of one request: from the endpoint's start to the response."""
    recorder = _Recorder()
    event.listen(ctx.db.engine, "before_cursor_execute", recorder.on_statement)
    event.listen(ctx.db.engine, "begin", recorder.on_begin)
    _RECORDERS.append(recorder)
    try:
        yield recorder
    finally:
        _RECORDERS.remove(recorder)
        event.remove(ctx.db.engine, "before_cursor_execute", recorder.on_statement)
        event.remove(ctx.db.engine, "begin", recorder.on_begin)


def test_a_keyed_post_adds_the_claim_and_its_completion_and_no_transaction(
    client: TestClient, ctx: ServiceContext, admin: str, backend: str
) -> None:
    assert client.post("/p/things", json={"name": "warm-up"}, headers=auth(admin)).status_code == 201
    with _recording(ctx) as plain:
        assert client.post("/p/things", json={"name": "b"}, headers=auth(admin)).status_code == 201
    keyed_headers = auth(admin, **{"Idempotency-Key": "counted"})
    with _recording(ctx) as keyed:
        assert client.post("/p/things", json={"name": "c"}, headers=keyed_headers).status_code == 201
    added = [s for s in keyed.statements if "idempotency_keys" in s]
    assert len(keyed.statements) == len(plain.statements) + 2
    assert keyed.begun == plain.begun == 1  # the request's own write transaction, and no other
    assert [s for s in keyed.statements if "idempotency_keys" not in s] == plain.statements
    assert added[0].startswith("INSERT INTO idempotency_keys") and "ON CONFLICT" in added[0]
    assert "RETURNING" in added[0]
    assert added[1].startswith("UPDATE idempotency_keys")
    statements = keyed.statements
    claim = statements.index(added[0])
    assert claim == (1 if backend == "sqlite" else 0)  # after SQLite's BEGIN IMMEDIATE: the first
    # The completion follows the endpoint; the commit tail (its event and audit entry) follows it.
    tail = [i for i, s in enumerate(statements) if "outbox_events" in s or "audit_log" in s]
    assert tail and statements.index(added[1]) < min(tail)


def _old_claim(ctx: ServiceContext, admin: str, *, body: dict[str, Any], lease_left: timedelta) -> None:
    """A record as the protocol before this one left it: claimed in its own transaction, with a lease."""
    now = ctx.clock.now()
    with ctx.db.unit_of_work() as session:
        session.execute(
            ctx.tables.idempotency.insert().values(
                scope=hash_api_key(admin),
                key="old",
                request_hash=request_fingerprint("POST", "/p/things", "", _json(body)),
                state="in_progress",
                created_at=now - timedelta(seconds=90),
                locked_until=now + lease_left,
                holder="another-host/4242/123",
            )
        )


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def test_an_old_claim_whose_lease_expired_is_taken_over(
    client: TestClient, ctx: ServiceContext, admin: str
) -> None:
    body = {"name": "old"}
    _old_claim(ctx, admin, body=body, lease_left=-timedelta(seconds=30))
    headers = auth(admin, **{"Idempotency-Key": "old", "Content-Type": "application/json"})
    taken = client.post("/p/things", content=_json(body), headers=headers)
    assert taken.status_code == 201 and "idempotent-replayed" not in taken.headers
    [record] = _records(ctx)
    assert (record.state, record.response_status, record.holder) == ("completed", 201, None)
    assert count_rows(ctx, ctx.tables.outbox) == 1


def test_an_old_claim_whose_lease_runs_is_409_and_changes_nothing(
    client: TestClient, ctx: ServiceContext, admin: str
) -> None:
    body = {"name": "old"}
    _old_claim(ctx, admin, body=body, lease_left=timedelta(seconds=30))
    headers = auth(admin, **{"Idempotency-Key": "old", "Content-Type": "application/json"})
    refused = assert_problem(client.post("/p/things", content=_json(body), headers=headers), 409)
    assert refused["current_state"] == "in_progress"
    assert count_rows(ctx, ctx.tables.outbox) == 0 and count_rows(ctx, ctx.tables.audit_log) == 0
    assert [r.state for r in _records(ctx)] == ["in_progress"]
    other = client.post("/p/things", content=_json({"name": "new"}), headers=headers)
    assert_problem(other, 422)
