"""The route class every service router uses: one request, one transaction.

``ServiceRoute`` wraps each endpoint so that

- the body is checked first (413 when too large, 415 when a body is not JSON), and the
  input no column can hold is refused with a 422 naming where: a NUL character in the path,
  a query value or any JSON string, an integer outside (-2^63, 2^63) in an integer query
  or path parameter or anywhere in the body, a number overflowing to infinity, NaN,
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
  claim made just before its completion.

The write gate (SQLite's in-process writer queue, ``shared.db``) is held for the database
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
import json
import math
import typing
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import Connection, event
from sqlalchemy.orm import Session, SessionTransaction
from starlette.concurrency import run_in_threadpool

from shared.errors import (
    PROBLEM_RESPONSES,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationProblem,
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
from shared.platform import ServiceContext

_BODY_METHODS = {"POST", "PUT", "PATCH"}
_READ_METHODS = {"GET", "HEAD", "OPTIONS"}
INT64_LIMIT = 2**63
"""Integers must lie strictly between -2^63 and 2^63 (a BIGINT, either backend)."""


class _Refused:
    """A JSON value the hooks of ``json.loads`` refused (found again by ``_hostile_json``)."""

    def __init__(self, message: str) -> None:
        self.message = message


_INT64_MESSAGE = "integers must lie between -2^63 and 2^63 (exclusive)"


def _beyond_int64(digits: str) -> bool:
    """True for a string of decimal digits (no sign) that no BIGINT holds."""
    return len(digits) > 19 or int(digits) >= INT64_LIMIT


def _json_int(text: str) -> int | _Refused:
    return _Refused(_INT64_MESSAGE) if _beyond_int64(text.lstrip("-")) else int(text)


def _json_float(text: str) -> float | _Refused:
    value = float(text)
    return value if math.isfinite(value) else _Refused("numbers must be finite")


def _json_constant(text: str) -> _Refused:
    return _Refused(f"{text} is not a JSON number")


def _shown(name: str) -> str:
    return name.replace("\x00", "\\u0000")


def _hostile_json(document: Any) -> list[tuple[str, str]]:
    """Every NUL-bearing string and refused number in a parsed body, named by its path."""
    errors: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            for name, item in value.items():
                path = f"{where}.{_shown(name)}" if where else _shown(name)
                if "\x00" in name:
                    errors.append((path, "names must not contain NUL characters"))
                stack.append((path, item))
        elif isinstance(value, list):
            stack.extend((f"{where}.{i}" if where else str(i), item) for i, item in enumerate(value))
        elif isinstance(value, str) and "\x00" in value:
            errors.append((where or "body", "must not contain NUL characters"))
        elif isinstance(value, _Refused):
            errors.append((where or "body", value.message))
    return sorted(errors)


def _out_of_range(text: str) -> bool:
    unsigned = text.strip().replace("_", "").removeprefix("-").removeprefix("+")
    return unsigned.isdigit() and _beyond_int64(unsigned)


def _is_int(annotation: Any) -> bool:
    if annotation is bool:
        return False
    if annotation is int:
        return True
    return any(_is_int(arg) for arg in typing.get_args(annotation))


def _int_params(dependant: Dependant) -> set[str]:
    """The query and path parameters of a dependant tree that are integers."""
    names = {
        f.alias for f in [*dependant.query_params, *dependant.path_params] if _is_int(f.field_info.annotation)
    }
    for sub in dependant.dependencies:
        names |= _int_params(sub)
    return names


def _refuse_hostile_input(request: Request, body: bytes, int_params: frozenset[str]) -> None:
    """422 for a NUL in the path, a query or a JSON string, and for numbers no column holds.

    The body is parsed once, here, and handed to FastAPI (``request._json``), so what is
    validated is exactly what was checked.
    """
    errors: list[tuple[str, str]] = []
    if "\x00" in request.scope.get("path", ""):
        errors.append(("path", "must not contain NUL characters"))
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            errors.append((f"query.{_shown(name)}", "must not contain NUL characters"))
        elif name in int_params and _out_of_range(value):
            errors.append((f"query.{name}", _INT64_MESSAGE))
    for name, value in request.path_params.items():
        if isinstance(value, str) and name in int_params and _out_of_range(value):
            errors.append((f"path.{name}", _INT64_MESSAGE))
    if body and _is_json(_media_type(request)):
        try:
            document = json.loads(
                body, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant
            )
        except (ValueError, RecursionError):
            document = None  # not JSON: FastAPI answers with its own 422 (or 400)
        else:
            errors.extend(_hostile_json(document))
            if not errors:
                request._json = document
    if errors:
        raise ValidationProblem(errors)


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
        self.session.commit()


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


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def _check_body(request: Request, body: bytes, limit: int) -> None:
    if len(body) > limit:
        raise PayloadTooLarge(f"request body is {len(body)} bytes; the limit is {limit}")
    if request.method in _BODY_METHODS and body:
        media = _media_type(request)
        if not _is_json(media):
            raise UnsupportedMediaType(
                f"request bodies must be application/json, got {media or 'no content type'!r}"
            )


class ServiceRoute(APIRoute):
    """An APIRoute that owns the request's unit of work and idempotency."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _writing_endpoint(endpoint), **kwargs)
        self.int_params = frozenset(_int_params(self.dependant))
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
            _check_body(request, body, ctx.settings.max_body_bytes)
            _refuse_hostile_input(request, body, self.int_params)

            writes = request.method not in _READ_METHODS
            session = ctx.db.request_session() if writes else ctx.db.read_sessionmaker()
            unit = _Unit(request=request, ctx=ctx, session=session, body=body, writes=writes)
            unit.looks_first = self.looks_first
            request.state.session = session
            bound = _unit.set(unit)
            try:
                try:
                    response = await original(request)
                    if unit.refusal is None:
                        await run_in_threadpool(unit.finish, response)
                except Exception:
                    if unit.refusal is None:
                        raise
                    # Refused at its first statement (whatever the endpoint made of _KeyRefused).
                if unit.refusal is not None:
                    await run_in_threadpool(session.rollback)  # the refused request's effects go
                    return refusal_response(unit.refusal)
            except BaseException:
                await run_in_threadpool(session.rollback)
                raise
            finally:
                await run_in_threadpool(session.close)
                _unit.reset(bound)
            return response

        return handler


def service_router(**kwargs: Any) -> APIRouter:
    """An APIRouter whose routes run as ``ServiceRoute`` and document their problem answers."""
    responses = {**PROBLEM_RESPONSES, **kwargs.pop("responses", {})}
    return APIRouter(route_class=ServiceRoute, responses=responses, **kwargs)


def get_session(request: Request) -> Session:
    """The request's session (opened and committed by ServiceRoute)."""
    session: Session = request.state.session
    return session


def get_context(request: Request) -> ServiceContext:
    """The service context of the app serving the request."""
    ctx: ServiceContext = request.app.state.ctx
    return ctx


async def raw_body(request: Request) -> bytes:
    """The request body exactly as received (signatures are computed over these bytes)."""
    return await request.body()


SessionDep = Annotated[Session, Depends(get_session)]
ContextDep = Annotated[ServiceContext, Depends(get_context)]
RawBodyDep = Annotated[bytes, Depends(raw_body)]
