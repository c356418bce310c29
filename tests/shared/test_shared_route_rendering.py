"""``ServiceRoute`` renders a plain ``def`` endpoint's answer and ends its transaction in the
endpoint's own worker thread: the answer is what FastAPI itself would have sent, and SQLite's
write gate is never held while the request waits for a thread.

Runs on SQLite and, when AGRIFIN_TEST_POSTGRES_URL is set, on PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Response
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel

from shared.api import ContextDep, SessionDep, service_router
from shared.app import create_service_app
from shared.audit import append_audit
from shared.auth import Principal, Role, require_roles
from shared.platform import ServiceContext
from shared.webhooks import emit_event
from tests.support import auth, count_rows, issue_key


class Lot(BaseModel):
    ref: str
    amount_minor: int
    note: str | None = None


class Secret(BaseModel):
    ref: str


def _endpoints(router: APIRouter) -> None:
    """The same endpoints, whichever route class ``router`` makes."""

    @router.get("/model", response_model=Lot)
    def model() -> Lot:
        return Lot(ref="A", amount_minor=125)

    @router.get("/dict", response_model=Lot)
    def as_dict() -> dict[str, Any]:
        return {"ref": "B", "amount_minor": 7, "extra": "dropped by the model"}

    @router.get("/narrowed", response_model=Secret)
    def narrowed() -> Lot:
        return Lot(ref="C", amount_minor=99)  # amount_minor must not leak

    @router.get("/none-excluded", response_model=Lot, response_model_exclude_none=True)
    def none_excluded() -> Lot:
        return Lot(ref="D", amount_minor=1)

    @router.post("/created", status_code=201)
    def created() -> dict[str, str]:
        return {"status": "made"}

    @router.post("/accepted", response_model=Lot)
    def accepted(response: Response) -> Lot:
        response.status_code = 202
        response.headers["Location"] = "/jobs/1"
        return Lot(ref="E", amount_minor=3)

    @router.delete("/gone", status_code=204)
    def gone() -> None:
        return None

    @router.get("/text", response_class=PlainTextResponse)
    def plain() -> str:
        return "plain words"

    @router.get("/untyped")
    def untyped() -> list[dict[str, Any]]:
        return [{"n": 1}, {"n": 2.5}]

    @router.get("/own-response")
    def own_response() -> Response:
        return Response(b'{"own":true}', status_code=200, media_type="application/json")


@pytest.fixture
def client(ctx: ServiceContext, client_for: Callable[..., TestClient]) -> TestClient:
    ours, theirs = service_router(prefix="/ours"), APIRouter(prefix="/theirs")
    _endpoints(ours)
    _endpoints(theirs)
    app = FastAPI()
    app.state.ctx = ctx
    app.include_router(ours)
    app.include_router(theirs)
    return client_for(app)


@pytest.fixture
def ctx(make_ctx: Callable[[str], ServiceContext]) -> ServiceContext:
    return make_ctx("escrow")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/model"),
        ("GET", "/dict"),
        ("GET", "/narrowed"),
        ("GET", "/none-excluded"),
        ("POST", "/created"),
        ("POST", "/accepted"),
        ("DELETE", "/gone"),
        ("GET", "/text"),
        ("GET", "/untyped"),
        ("GET", "/own-response"),
    ],
)
def test_the_answer_is_the_one_fastapi_renders(client: TestClient, method: str, path: str) -> None:
    ours = client.request(method, f"/ours{path}")
    theirs = client.request(method, f"/theirs{path}")
    assert ours.status_code == theirs.status_code
    assert ours.content == theirs.content
    assert ours.headers.get("content-type") == theirs.headers.get("content-type")
    assert ours.headers.get("location") == theirs.headers.get("location")
    assert ours.headers.get("content-length") == theirs.headers.get("content-length")


def test_an_answer_its_model_refuses_is_a_500_and_writes_nothing(
    ctx: ServiceContext, client_for: Callable[..., TestClient]
) -> None:
    router = service_router(prefix="/t")

    @router.post("/bad", response_model=Lot)
    def bad(session: SessionDep, context: ContextDep) -> dict[str, Any]:
        append_audit(
            session,
            context.tables,
            context.keyring,
            actor="test",
            action="bad.answer",
            subject="bad",
            payload={},
            now=context.clock.now(),
        )
        return {"ref": "X"}  # amount_minor missing

    app = FastAPI()
    app.state.ctx = ctx
    app.include_router(router)
    answer = client_for(app, raise_server_exceptions=False).post("/t/bad")
    assert answer.status_code == 500
    assert count_rows(ctx, ctx.tables.audit_log) == 0


Writer = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
_HELD_HERE: ContextVar[object | None] = ContextVar("held_here", default=None)


def test_the_gate_is_given_back_in_the_hand_off_that_took_it(
    ctx: ServiceContext, client_for: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A keyed writer takes SQLite's write gate at its first statement and gives it back at its
    commit within one worker-thread hand-off (a hand-off runs in a copy of the request's
    context, so what one sets the next cannot see). Held across a return to the event loop, a
    pool whose threads all wait at the gate could never run the holder's commit: every writer
    would time out on the gate."""
    gate = ctx.db.write_gate
    if gate is None:
        pytest.skip("SQLite's write gate; PostgreSQL has none")
    took, gave = gate.acquire, gate.release
    handed_back: list[bool] = []

    def acquire(*args: Any, **kwargs: Any) -> bool:
        taken = took(*args, **kwargs)
        _HELD_HERE.set(gate if taken else None)
        return taken

    def release() -> None:
        handed_back.append(_HELD_HERE.get() is gate)
        gave()

    monkeypatch.setattr(gate, "acquire", acquire)
    monkeypatch.setattr(gate, "release", release)
    router = service_router(prefix="/t")

    @router.post("/write", status_code=201, response_model=Lot)
    def write(session: SessionDep, context: ContextDep, who: Writer) -> dict[str, Any]:
        emit_event(  # a statement now, in the endpoint (the audit row waits for the commit)
            session,
            context.tables,
            topic="thing.written",
            subject="thing",
            data={},
            now=context.clock.now(),
            owner=who.owner,
        )
        return {"ref": "W", "amount_minor": 1}

    app = create_service_app(ctx, title="t", description="t", routers=[router])
    key = issue_key(ctx, Role.ADMIN)
    client = client_for(app)
    for _ in range(3):
        answer = client.post("/t/write", headers={**auth(key), "Idempotency-Key": uuid.uuid4().hex})
        assert answer.status_code == 201
    assert handed_back == [True, True, True]
    assert count_rows(ctx, ctx.tables.outbox) == 3
