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
write only, and within one worker-thread hand-off: a plain ``def`` endpoint's answer is
rendered (``_renderer``: what FastAPI would send) and its transaction ended in the endpoint's
own thread, so a writer holding the gate never waits for the event loop or for a free thread
of the pool (a pool whose threads all waited at the gate could not run the holder's commit).
A state-changing request's session starts as a reader: FastAPI authenticates
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
from fastapi import routing as fastapi_routing
from fastapi.datastructures import DefaultPlaceholder
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import ResponseValidationError
from fastapi.routing import APIRoute
from fastapi.utils import is_body_allowed_for_status_code
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
    render: Callable[[Any, dict[str, Any]], Response] | None = None
    """The route's answer from what a plain ``def`` endpoint returned, as FastAPI renders it."""

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
                self.session.info[_CLAIMS_ON_BEGIN] = self._claim_on_begin

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
        self.session.info.pop(_CLAIMS_ON_BEGIN, None)
        self.session.close()


_unit: ContextVar[_Unit | None] = ContextVar("agrifin_unit", default=None)
_CLAIMS_ON_BEGIN = "agrifin_claims_on_begin"


@event.listens_for(Session, "after_begin")
def _claim_on_begin(session: Session, transaction: SessionTransaction, conn: Connection) -> None:
    """One listener for every session (registered once: a listener per request's session
    costs more to add than the claim it makes): a keyed request's session claims its key."""
    claim = session.info.get(_CLAIMS_ON_BEGIN)
    if claim is not None:
        claim(session, transaction, conn)


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
        if unit is None:
            return endpoint(*args, **kwargs)
        # One worker thread from the endpoint's first statement to its commit: the answer is
        # rendered and the transaction ends here, so SQLite's write gate is never held while
        # the request waits for the event loop or for another thread of the pool.
        try:
            unit.start()
            result = endpoint(*args, **kwargs)
            if unit.refusal is not None:
                unit.rollback_and_close()
                return result
            assert unit.render is not None
            response = unit.render(result, kwargs)
            unit.finish_and_close(response)
            return response
        except BaseException:
            if not unit.closed:
                unit.rollback_and_close()
            raise

    return run


class ServiceRoute(APIRoute):
    """An APIRoute that owns the request's unit of work and idempotency."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _writing_endpoint(endpoint), **kwargs)
        self.int_params = frozenset(int_params(self.dependant))
        self.looks_first = bool(getattr(endpoint, _CALLS_OUT_FIRST, False))

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()
        render = _renderer(_effective_route(self))

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
            unit.render = render
            request.state.session = session
            bound = _unit.set(unit)
            try:
                try:
                    response = await original(request)
                    if unit.refusal is None and not unit.closed:  # an async endpoint's
                        await run_in_threadpool(unit.finish_and_close, response)
                except Exception:
                    if unit.refusal is None:
                        raise
                    # Refused at its first statement (whatever the endpoint made of _KeyRefused).
                if unit.refusal is not None:
                    if not unit.closed:
                        await run_in_threadpool(unit.rollback_and_close)  # the refused request's effects go
                    return refusal_response(unit.refusal)
            except DBAPIError as exc:
                if not unit.closed:
                    await run_in_threadpool(unit.rollback_and_close)
                if unit.committing and exc.connection_invalidated:  # never run again: it may have committed
                    raise ServiceUnavailable(
                        "the database connection was lost while this request was committing, so whether "
                        "it took effect is unknown; send it again with the same Idempotency-Key"
                    ) from exc
                raise
            except BaseException:
                if not unit.closed:
                    await run_in_threadpool(unit.rollback_and_close)
                raise
            finally:
                if not unit.closed:
                    await run_in_threadpool(session.close)
                _unit.reset(bound)
            return response

        return handler


def _effective_route(route: APIRoute) -> Any:
    """The route as FastAPI builds its handler: an included router's effective context of it
    (its response class, status code and model as the include made them) or the route itself."""
    context_var = getattr(fastapi_routing, "_effective_route_context_var", None)
    context = context_var.get() if context_var is not None else None
    return context if context is not None and getattr(context, "original_route", None) is route else route


def _renderer(route: Any) -> Callable[[Any, dict[str, Any]], Response]:
    """What FastAPI's request handler does with a plain ``def`` endpoint's return value, done
    in the endpoint's worker thread instead of in a hand-off of its own: a ``Response`` passes
    as it is; anything else is validated against the response model and serialised (JSON bytes
    straight from pydantic unless the route names a response class), with the status code and
    headers an endpoint set on its ``response: Response`` parameter."""
    field = route.response_field
    response_class = route.response_class
    fast = field is not None and isinstance(response_class, DefaultPlaceholder)
    actual_class = response_class.value if isinstance(response_class, DefaultPlaceholder) else response_class
    options = {
        "include": route.response_model_include,
        "exclude": route.response_model_exclude,
        "by_alias": route.response_model_by_alias,
        "exclude_unset": route.response_model_exclude_unset,
        "exclude_defaults": route.response_model_exclude_defaults,
        "exclude_none": route.response_model_exclude_none,
    }

    def render(result: Any, arguments: dict[str, Any]) -> Response:
        if isinstance(result, Response):
            return result
        sub = next((v for v in arguments.values() if isinstance(v, Response)), None)
        status = route.status_code or (sub.status_code if sub is not None else None)
        if sub is not None and sub.status_code:
            status = sub.status_code
        extra: dict[str, Any] = {} if status is None else {"status_code": status}
        if field is not None:
            value, errors = field.validate(result, {}, loc=("response",))
            if errors:
                raise ResponseValidationError(errors=errors, body=result)
            if fast:
                response = Response(
                    field.serialize_json(value, **options), media_type="application/json", **extra
                )
            else:
                response = actual_class(field.serialize(value, **options), **extra)
        else:
            response = actual_class(jsonable_encoder(result), **extra)
        if not is_body_allowed_for_status_code(response.status_code):
            response.body = b""
        if sub is not None:
            response.headers.raw.extend(sub.headers.raw)
        return response

    return render


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
