"""The route class every service router uses: one request, one transaction.

``ServiceRoute`` wraps each endpoint so that

- the body is checked first (``shared.input_hygiene``: 413 when too large, 415 when a body
  is not JSON, 422 for input no column can hold),
- the endpoint runs on a session bound to ``request.state.session`` (``SessionDep``),
- the session commits after the endpoint returns and rolls back on any exception,
- an ``Idempotency-Key`` on a POST is handled inside that same transaction, with none of
  its own (the protocol: ``shared.idempotency``). When the endpoint starts (the caller
  authenticated, the request validated) the key is checked and scoped; a session
  ``after_begin`` listener makes the claim the first statement of the write transaction, so
  it takes SQLite's write gate exactly when the endpoint's own first statement would; after
  the endpoint returns the record is completed and the transaction commits. A refused claim
  (the key used before; on PostgreSQL it first waits for a transaction still holding it)
  raises out of the endpoint's first statement: the transaction rolls back and the request
  answers with the stored response, a 422 or a 409. An endpoint that wrote nothing has the
  claim made just before its completion,
- a PostgreSQL connection found lost before the commit (the pool does not ping at checkout)
  runs the whole request once more on a fresh connection: nothing of it committed, and what it
  asked of other services it asks with the same keys. Lost while committing, the outcome is
  unknown: a 503 asks the client to send it again with its Idempotency-Key.

The write gate (SQLite's writer queue across the processes of a host, ``shared.db``) is held for the database
write only. A state-changing request's session starts as a reader: FastAPI authenticates
(the key look-up reads through it), parses and validates with no gate and no write lock,
so a 401 or a 422 never waits behind another request's write. When the endpoint itself
starts, the wrapper ``ServiceRoute`` puts around it ends those reads and makes the session a
gated writer (``Database.begin_writing``); the gate is taken by the first statement of the
write transaction and given back at its commit, rollback or close. An endpoint that calls
another service does so before its first statement (loans' submit reads in a short
read-only unit of work, calls scoring, then writes), so the gate is never held across it.
Such an endpoint is marked ``@calls_out_first``: its keyed request first looks, on its read
session, for a completed record of its key (one statement), so a retry of a completed
request is answered at once instead of calling the other service again; every other route
leaves all of it to the claim.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import Connection, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, SessionTransaction
from starlette.concurrency import run_in_threadpool

from shared.errors import (
    PROBLEM_RESPONSES,
    PayloadTooLarge,
    ServiceUnavailable,
)
from shared.idempotency import (
    Claimed,
    InProgress,
    KeyRequest,
    Mismatch,
    Replay,
    claim_key,
    complete_key,
    completed_answer,
    key_request,
    refusal_response,
)
from shared.input_hygiene import check_body, int_params, refuse_hostile_input
from shared.platform import ServiceContext

log = logging.getLogger("agrifin.api")
_READ_METHODS = {"GET", "HEAD", "OPTIONS"}
_CALLS_OUT_FIRST = "__agrifin_calls_out_first__"


def calls_out_first(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """Mark an endpoint that calls another service before its first statement (see the module docstring)."""
    setattr(endpoint, _CALLS_OUT_FIRST, True)
    return endpoint


class _KeyRefused(Exception):
    """The claim found the key used before: stops the endpoint at its first statement."""


@dataclass
class _Unit:
    """The request being served, as the endpoint wrapper sees it."""

    request: Request
    ctx: ServiceContext
    session: Session
    body: bytes
    writes: bool
    writing: bool = False
    wanted: KeyRequest | None = None
    """The Idempotency-Key this request claims (a keyed POST), scoped to its caller."""
    claim: Claimed | None = None
    """Set by the claim, the first statement of the write transaction."""
    refusal: Replay | Mismatch | InProgress | None = None
    """Set instead when the key was used before: the request answers with it."""
    looks_first: bool = False
    """The endpoint calls out before it writes: look for a completed record before it runs."""
    committing: bool = False
    """The commit has begun: a connection lost from here on leaves its outcome unknown."""
    closed: bool = False
    """The session is closed (each step below runs in one worker-thread hand-off)."""

    def start(self) -> None:
        """Check and scope the Idempotency-Key, then make the session a writer that claims it."""
        self.wanted = key_request(self.request, self.body)
        if self.wanted is not None and self.looks_first:
            answered = completed_answer(
                self.session, self.ctx.tables, keyring=self.ctx.keyring, wanted=self.wanted
            )
            if answered is not None:
                self.refusal = answered
                raise _KeyRefused("this Idempotency-Key was used before")
        self.begin_writing()

    def begin_writing(self) -> None:
        if self.writes and not self.writing:
            self.ctx.db.begin_writing(self.session)
            self.writing = True
            if self.wanted is not None:
                event.listen(self.session, "after_begin", self._claim_on_begin)

    def _claim_on_begin(self, _session: Session, transaction: SessionTransaction, conn: Connection) -> None:
        """Claim the key as the first statement of each write transaction (savepoints excluded)."""
        if transaction.parent is not None or self.wanted is None or self.refusal is not None:
            return
        self.claim = None
        outcome = claim_key(
            conn, self.ctx.tables, keyring=self.ctx.keyring, wanted=self.wanted, now=self.ctx.clock.now()
        )
        if isinstance(outcome, Claimed):
            self.claim = outcome
            return
        self.refusal = outcome
        raise _KeyRefused("this Idempotency-Key was used before")

    def finish(self, response: Response) -> None:
        """Complete the claim (making it first when the endpoint wrote nothing), then commit."""
        if self.wanted is not None:
            if response.status_code >= 500 or not hasattr(response, "body"):
                raise RuntimeError("unstorable response for an idempotent request")
            if self.claim is None:
                self.session.connection()  # begins the write transaction: the claim goes first
            if self.claim is None:
                raise RuntimeError("the write transaction began without claiming its Idempotency-Key")
            complete_key(
                self.session,
                self.ctx.tables,
                keyring=self.ctx.keyring,
                claim=self.claim,
                status=response.status_code,
                body=bytes(response.body).decode("utf-8"),
                content_type=response.media_type or "application/json",
            )
        self.committing = True
        self.session.commit()

    def finish_and_close(self, response: Response) -> None:
        """``finish``, then close the session: one hand-off to a worker thread, not two."""
        self.finish(response)
        self.close()

    def rollback_and_close(self) -> None:
        """Undo the request's effects and close the session."""
        try:
            self.session.rollback()
        finally:
            self.close()

    def close(self) -> None:
        self.closed = True
        self.session.close()


_unit: ContextVar[_Unit | None] = ContextVar("agrifin_unit", default=None)


def _writing_endpoint(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint``, first switching the request's session from reading to writing."""
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            unit = _unit.get()
            if unit is not None:
                await run_in_threadpool(unit.start)
            return await endpoint(*args, **kwargs)

        return run_async

    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> Any:
        unit = _unit.get()
        if unit is not None:
            unit.start()
        return endpoint(*args, **kwargs)

    return run


class ServiceRoute(APIRoute):
    """An APIRoute that owns the request's unit of work and idempotency."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _writing_endpoint(endpoint), **kwargs)
        self.int_params = frozenset(int_params(self.dependant))
        self.looks_first = bool(getattr(endpoint, _CALLS_OUT_FIRST, False))

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            ctx: ServiceContext = request.app.state.ctx
            declared = request.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > ctx.settings.max_body_bytes:
                raise PayloadTooLarge(
                    f"request body is {declared} bytes; the limit is {ctx.settings.max_body_bytes}"
                )
            body = await request.body()
            check_body(request, body, ctx.settings.max_body_bytes)
            refuse_hostile_input(request, body, self.int_params)

            writes = request.method not in _READ_METHODS
            try:
                return await serve(request, ctx, body, writes)
            except DBAPIError as exc:
                if not _retryable(exc, ctx):
                    raise
                log.warning("the database connection was lost before the commit; running the request again")
                return await serve(request, ctx, body, writes)

        async def serve(request: Request, ctx: ServiceContext, body: bytes, writes: bool) -> Response:
            session = ctx.db.request_session() if writes else ctx.db.read_sessionmaker()
            unit = _Unit(request=request, ctx=ctx, session=session, body=body, writes=writes)
            unit.looks_first = self.looks_first
            request.state.session = session
            bound = _unit.set(unit)
            try:
                try:
                    response = await original(request)
                    if unit.refusal is None:
                        await run_in_threadpool(unit.finish_and_close, response)
                except Exception:
                    if unit.refusal is None:
                        raise
                    # Refused at its first statement (whatever the endpoint made of _KeyRefused).
                if unit.refusal is not None:
                    await run_in_threadpool(unit.rollback_and_close)  # the refused request's effects go
                    return refusal_response(unit.refusal)
            except DBAPIError as exc:
                await run_in_threadpool(unit.rollback_and_close)
                if unit.committing and exc.connection_invalidated:  # never run again: it may have committed
                    raise ServiceUnavailable(
                        "the database connection was lost while this request was committing, so whether "
                        "it took effect is unknown; send it again with the same Idempotency-Key"
                    ) from exc
                raise
            except BaseException:
                await run_in_threadpool(unit.rollback_and_close)
                raise
            finally:
                if not unit.closed:
                    await run_in_threadpool(session.close)
                _unit.reset(bound)
            return response

        return handler


def _retryable(exc: DBAPIError, ctx: ServiceContext) -> bool:
    """A lost PostgreSQL connection before the commit: the transaction did not commit, so the
    request may run again on a fresh connection (the pool drops every connection older than the
    failure). The engine does not ping connections at checkout; this is what replaces it."""
    return bool(exc.connection_invalidated) and not ctx.db.is_sqlite


@functools.cache
def _adapter(model_type: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(model_type)


def model_response(model: BaseModel, *, status_code: int = 200) -> Response:
    """``model`` as the JSON answer, rendered as FastAPI renders a ``response_model`` of its type
    (the same serializer, by alias) but without validating the model it is given again in the
    thread pool: for a hot route whose presenter has just built it. The route keeps its
    ``response_model`` for the OpenAPI document."""
    body = _adapter(type(model)).dump_json(model, by_alias=True)
    return Response(body, status_code=status_code, media_type="application/json")


def service_router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose routes run as ``ServiceRoute`` and document their problem answers."""
    responses = {**PROBLEM_RESPONSES, **kwargs.pop("responses", {})}
    return APIRouter(route_class=ServiceRoute, responses=responses, **kwargs)


# The two getters below are ``async`` although they do no I/O: FastAPI runs a plain ``def``
# dependency in a worker thread, a hand-off per dependency per request.
async def get_session(request: Request) -> Session:
    """The request's session (opened and committed by ServiceRoute)."""
    session: Session = request.state.session
    return session


async def get_context(request: Request) -> ServiceContext:
    """The service context of the app serving the request."""
    ctx: ServiceContext = request.app.state.ctx
    return ctx


async def raw_body(request: Request) -> bytes:
    """The request body exactly as received (signatures are computed over these bytes)."""
    return await request.body()


SessionDep = Annotated[Session, Depends(get_session)]
ContextDep = Annotated[ServiceContext, Depends(get_context)]
RawBodyDep = Annotated[bytes, Depends(raw_body)]
