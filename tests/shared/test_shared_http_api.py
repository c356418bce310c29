"""The request pipeline every service shares: problem+json, auth, idempotency, unit of work.

Runs on SQLite and, when AGRIFIN_TEST_POSTGRES_URL is set, on PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, cast

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import text

from shared.api import ContextDep, SessionDep, service_router
from shared.app import create_service_app
from shared.audit import append_audit
from shared.auth import Principal, Role, public_access, require_roles
from shared.errors import Conflict, NotFound
from shared.platform import ServiceContext
from shared.webhooks import emit_event
from tests.support import assert_problem, auth, count_rows, issue_key

Writer = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.MARKETPLACE))]


class ThingIn(BaseModel):
    name: str
    fail: bool = False
    hold: bool = False


# A held request signals that it is running and waits until the test lets it finish, so a
# test can act while it runs without guessing how long a thread takes to start.
_HELD_RUNNING = threading.Event()
_HELD_RELEASE = threading.Event()


def _test_router() -> Any:
    router = service_router(prefix="/t")

    @router.post("/things", status_code=201)
    def create_thing(body: ThingIn, ctx: ContextDep, session: SessionDep, who: Writer) -> dict[str, Any]:
        now = ctx.clock.now()
        # The write transaction begins here (its key claimed, the gate taken): the event and
        # the audit entry below are written at the commit.
        session.connection()
        event_id = emit_event(
            session,
            ctx.tables,
            topic="thing.created",
            subject=body.name,
            data={"name": body.name},
            now=now,
            owner=who.owner,
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
        if body.hold:
            _HELD_RUNNING.set()
            if not _HELD_RELEASE.wait(timeout=30):
                raise RuntimeError("the test never released the held request")
        if body.fail:
            raise Conflict("thing cannot be created now", current_state="frozen", allowed_actions=["thaw"])
        return {"event_id": event_id, "name": body.name}

    @router.get("/owned/{owner}")
    def owned(owner: str, who: Writer) -> dict[str, str]:
        if not who.can_see(owner):
            raise NotFound(f"record of {owner} not found")
        return {"owner": owner}

    @router.get("/boom")
    def boom(_: Writer) -> None:
        raise RuntimeError("secret stack detail")

    return router


@pytest.fixture
def ctx(make_ctx: Callable[[str], ServiceContext]) -> ServiceContext:
    return make_ctx("escrow")


@pytest.fixture
def app(ctx: ServiceContext) -> FastAPI:
    return create_service_app(ctx, title="t", description="t", routers=[_test_router()])


@pytest.fixture
def client(app: FastAPI, client_for: Callable[..., TestClient]) -> TestClient:
    return client_for(app, raise_server_exceptions=False)


@pytest.fixture
def admin(ctx: ServiceContext) -> str:
    return issue_key(ctx, Role.ADMIN)


# --- problem+json for every error class ------------------------------------------------


def test_missing_key_is_401_problem(client: TestClient) -> None:
    response = client.post("/t/things", json={"name": "a"})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_role_is_403_problem(client: TestClient, ctx: ServiceContext) -> None:
    body = assert_problem(
        client.post("/t/things", json={"name": "a"}, headers=auth(issue_key(ctx, Role.AUDITOR))), 403
    )
    assert body["allowed_roles"] == ["admin", "marketplace"]


def test_revoked_key_is_401(client: TestClient, ctx: ServiceContext) -> None:
    from shared.auth import revoke_api_key

    key = issue_key(ctx, Role.ADMIN)
    with ctx.db.unit_of_work() as session:
        revoke_api_key(session, ctx.tables, key_id=key[:12], now=ctx.clock.now())
    assert_problem(client.post("/t/things", json={"name": "a"}, headers=auth(key)), 401)


def test_owner_scoping_hides_other_owners_records(client: TestClient, ctx: ServiceContext) -> None:
    market = issue_key(ctx, Role.MARKETPLACE, owner="shop-1")
    assert client.get("/t/owned/shop-1", headers=auth(market)).status_code == 200
    assert_problem(client.get("/t/owned/shop-2", headers=auth(market)), 404)
    assert client.get("/t/owned/shop-2", headers=auth(issue_key(ctx, Role.ADMIN))).status_code == 200


def test_unknown_route_is_404_problem(client: TestClient) -> None:
    assert_problem(client.get("/nope"), 404)


def test_validation_error_names_the_field(client: TestClient, admin: str) -> None:
    body = assert_problem(client.post("/t/things", json={"nam": "a"}, headers=auth(admin)), 422)
    assert body["errors"][0]["field"] == "name"
    assert "name" in body["detail"]


def test_malformed_json_is_422_problem(client: TestClient, admin: str) -> None:
    response = client.post(
        "/t/things", content=b"{not json", headers=auth(admin, **{"Content-Type": "application/json"})
    )
    assert_problem(response, 422)


def test_state_conflict_is_409_naming_the_state(client: TestClient, admin: str) -> None:
    response = client.post("/t/things", json={"name": "a", "fail": True}, headers=auth(admin))
    body = assert_problem(response, 409)
    assert body["current_state"] == "frozen" and body["allowed_actions"] == ["thaw"]


def test_oversized_body_is_413(client: TestClient, admin: str) -> None:
    assert_problem(client.post("/t/things", json={"name": "x" * 2_000_000}, headers=auth(admin)), 413)


def test_non_json_body_is_415(client: TestClient, admin: str) -> None:
    response = client.post(
        "/t/things",
        content=b"name=a",
        headers=auth(admin, **{"Content-Type": "application/x-www-form-urlencoded"}),
    )
    assert_problem(response, 415)


def test_unexpected_error_is_generic_500_without_internals(client: TestClient, admin: str) -> None:
    response = client.get("/t/boom", headers=auth(admin, **{"X-Request-ID": "req-42"}))
    body = assert_problem(response, 500)
    assert "secret stack detail" not in response.text and "Traceback" not in response.text
    assert body["request_id"] == "req-42" and response.headers["x-request-id"] == "req-42"


def test_a_route_without_declared_access_refuses_to_start(ctx: ServiceContext) -> None:
    router = service_router()

    @router.get("/open")
    def open_route() -> None:
        return None

    with pytest.raises(RuntimeError, match="deny by default"):
        create_service_app(ctx, title="t", description="t", routers=[router])


# --- unit of work and the outbox -------------------------------------------------------


def test_outbox_event_and_audit_entry_commit_with_the_change(
    client: TestClient, ctx: ServiceContext, admin: str
) -> None:
    assert client.post("/t/things", json={"name": "a"}, headers=auth(admin)).status_code == 201
    assert count_rows(ctx, ctx.tables.outbox) == 1
    assert count_rows(ctx, ctx.tables.audit_log) == 1


def test_a_failed_request_writes_no_event_and_no_audit(
    client: TestClient, ctx: ServiceContext, admin: str
) -> None:
    assert client.post("/t/things", json={"name": "a", "fail": True}, headers=auth(admin)).status_code == 409
    assert count_rows(ctx, ctx.tables.outbox) == 0
    assert count_rows(ctx, ctx.tables.audit_log) == 0


# --- idempotency ------------------------------------------------------------------------


def test_same_key_same_body_replays_the_first_response(
    client: TestClient, ctx: ServiceContext, admin: str
) -> None:
    headers = auth(admin, **{"Idempotency-Key": "order-1"})
    first = client.post("/t/things", json={"name": "a"}, headers=headers)
    second = client.post("/t/things", json={"name": "a"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert count_rows(ctx, ctx.tables.outbox) == 1


def test_same_key_other_body_is_422(client: TestClient, admin: str) -> None:
    headers = auth(admin, **{"Idempotency-Key": "order-2"})
    assert client.post("/t/things", json={"name": "a"}, headers=headers).status_code == 201
    body = assert_problem(client.post("/t/things", json={"name": "b"}, headers=headers), 422)
    assert body["errors"][0]["field"] == "header.Idempotency-Key"


def test_keys_are_scoped_per_api_key(client: TestClient, ctx: ServiceContext, admin: str) -> None:
    other = issue_key(ctx, Role.ADMIN)
    first = client.post("/t/things", json={"name": "a"}, headers=auth(admin, **{"Idempotency-Key": "k"}))
    assert first.status_code == 201
    again = client.post("/t/things", json={"name": "b"}, headers=auth(other, **{"Idempotency-Key": "k"}))
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers


def test_a_failed_request_frees_its_key_for_a_retry(
    client: TestClient, ctx: ServiceContext, admin: str
) -> None:
    headers = auth(admin, **{"Idempotency-Key": "retry-me"})
    assert client.post("/t/things", json={"name": "a", "fail": True}, headers=headers).status_code == 409
    assert count_rows(ctx, ctx.tables.idempotency) == 0
    assert client.post("/t/things", json={"name": "a", "fail": True}, headers=headers).status_code == 409


class _WatchedGate:
    """SQLite's write gate, telling the test when a writer has to wait for it."""

    def __init__(self, gate: Any) -> None:
        self.gate = gate
        self.waited = threading.Event()

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if self.gate.acquire(False):
            return True
        self.waited.set()
        return bool(self.gate.acquire(blocking, timeout))

    def release(self) -> None:
        self.gate.release()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.gate, name)  # the rest of the gate's interface, as it is


def _claims_waiting(ctx: ServiceContext) -> int:
    """PostgreSQL: transactions whose claim INSERT waits for another's lock."""
    with ctx.db.unit_of_work(read_only=True) as session:
        return int(
            session.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO idempotency_keys%'"
                )
            ).scalar_one()
        )


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (a state the test waits for, not a timing) until it holds."""
    give_up = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < give_up, what
        time.sleep(0.01)


def test_a_concurrent_duplicate_waits_for_the_first_and_replays_its_response(
    client: TestClient, ctx: ServiceContext, admin: str, backend: str
) -> None:
    headers = auth(admin, **{"Idempotency-Key": "slow"})
    body = {"name": "a", "hold": True}
    results: dict[str, Any] = {}
    _HELD_RUNNING.clear()
    _HELD_RELEASE.clear()
    gate = _WatchedGate(ctx.db.write_gate) if backend == "sqlite" else None
    if gate is not None:
        ctx.db.write_gate = cast(Any, gate)

    def send(name: str) -> None:
        results[name] = client.post("/t/things", json=body, headers=headers)

    first = threading.Thread(target=send, args=("first",))
    duplicate = threading.Thread(target=send, args=("duplicate",))
    first.start()
    try:
        assert _HELD_RUNNING.wait(timeout=30), "the first request never started"
        duplicate.start()
        # The duplicate must be waiting for the first (its claim) before the first may finish.
        if gate is not None:
            assert gate.waited.wait(timeout=30), "the duplicate never waited for the write gate"
        else:
            _wait_until(lambda: _claims_waiting(ctx) == 1, "the duplicate's claim never waited")
        assert "duplicate" not in results
    finally:
        _HELD_RELEASE.set()
        first.join()
        if duplicate.ident is not None:
            duplicate.join()
        if gate is not None:
            ctx.db.write_gate = gate.gate
    original, again = results["first"], results["duplicate"]
    assert original.status_code == 201 and "idempotent-replayed" not in original.headers
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == original.json()
    assert count_rows(ctx, ctx.tables.outbox) == 1
    assert count_rows(ctx, ctx.tables.audit_log) == 1
    assert count_rows(ctx, ctx.tables.idempotency) == 1


# --- probes -------------------------------------------------------------------------------


def test_probes_and_metrics_are_public(client: TestClient, admin: str) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").json() == {"status": "ready", "service": "escrow", "problems": []}
    client.post("/t/things", json={"name": "a"}, headers=auth(admin))
    metrics = client.get("/metrics").text
    sample = 'agrifin_http_requests_total{method="POST",route="/t/things",service="escrow",status="201"}'
    assert sample in metrics


def test_a_service_app_runs_as_many_requests_at_once_as_its_request_threads(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> None:
    ctx = make_ctx("escrow")
    ctx.settings.request_threads = 3
    router = service_router()
    running, most = [0], [0]
    lock = threading.Lock()
    release = threading.Event()

    @router.get("/busy", dependencies=[Depends(public_access())])
    def busy() -> dict[str, int]:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(10)
        with lock:
            running[0] -= 1
        return {"most": most[0]}

    app = create_service_app(ctx, title="t", description="t", routers=[router])
    with client_for(app) as client, ThreadPoolExecutor(max_workers=6) as pool:  # runs the lifespan
        answers = [pool.submit(client.get, "/busy") for _ in range(6)]
        deadline = time.monotonic() + 10
        while most[0] < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # a fourth would have started by now
        started = most[0]
        release.set()
        assert all(answer.result(timeout=10).status_code == 200 for answer in answers)
    assert started == 3
    assert most[0] == 3
