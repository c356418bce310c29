"""The route class every service router uses: one request, one transaction.

``ServiceRoute`` wraps each endpoint so that

- the body is checked first (413 when too large, 415 when a body is not JSON), and the
  input no column can hold is refused with a 422 naming where: a NUL character in the path,
  a query value or any JSON string, an integer outside (-2^63, 2^63) in an integer query
  or path parameter or anywhere in the body, a number overflowing to infinity, NaN,
- an ``Idempotency-Key`` on a POST is claimed, replayed or refused (see ``shared.idempotency``)
  once the caller is authenticated and the request validated (when the endpoint starts),
- the endpoint runs on a session bound to ``request.state.session`` (``SessionDep``),
- the session commits after the endpoint returns (with the idempotent response stored in
  the same transaction) and rolls back on any exception.

The write gate (SQLite's in-process writer queue, ``shared.db``) is held for the database
write only. A state-changing request's session starts as a reader: FastAPI authenticates
(the key look-up reads through it), parses and validates with no gate and no write lock,
so a 401 or a 422 never waits behind another request's write. When the endpoint itself
starts, the wrapper ``ServiceRoute`` puts around it ends those reads and makes the session a
gated writer (``Database.begin_writing``); the gate is taken by the first statement of the
write transaction and given back at its commit, rollback or close. An endpoint that calls
another service does so before its first statement (loans' submit reads in a short
read-only unit of work, calls scoring, then writes), so the gate is never held across it.
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
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from shared.auth import bearer_token, hash_api_key
from shared.errors import (
    PROBLEM_RESPONSES,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationProblem,
)
from shared.idempotency import (
    MAX_KEY_LENGTH,
    Claimed,
    InProgress,
    Mismatch,
    Replay,
    claim_key,
    complete_key,
    let_go,
    release_key,
    request_fingerprint,
)
from shared.platform import ServiceContext

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
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


@dataclass
class _Unit:
    """The request being served, as the endpoint wrapper sees it."""

    request: Request
    ctx: ServiceContext
    session: Session
    body: bytes
    writes: bool
    writing: bool = False
    claim: Claimed | None = None

    def start(self) -> Response | None:
        """Claim the Idempotency-Key (a replay ends the request here), then begin writing."""
        outcome = _claim_idempotency_key(self.request, self.ctx, self.body)
        if isinstance(outcome, Response):
            return outcome
        self.claim = outcome
        self.begin_writing()
        return None

    def begin_writing(self) -> None:
        if self.writes and not self.writing:
            self.ctx.db.begin_writing(self.session)
            self.writing = True


_unit: ContextVar[_Unit | None] = ContextVar("agrifin_unit", default=None)


def _writing_endpoint(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint``, first switching the request's session from reading to writing."""
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            unit = _unit.get()
            if unit is not None and (replay := await run_in_threadpool(unit.start)) is not None:
                return replay
            return await endpoint(*args, **kwargs)

        return run_async

    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> Any:
        unit = _unit.get()
        if unit is not None and (replay := unit.start()) is not None:
            return replay
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


def _claim_idempotency_key(request: Request, ctx: ServiceContext, body: bytes) -> Claimed | Response | None:
    """Claim the request's Idempotency-Key (POST only): a claim, a replayed response, or None.

    Called once the route's dependencies have authenticated the caller: a revoked key gets
    its 401 before any stored response is looked at, and a replay goes to the key that made
    the first request only (the scope is that key's hash, and the person the console acts for).
    """
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None or request.method != "POST":
        return None
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise ValidationProblem([(f"header.{IDEMPOTENCY_HEADER}", f"must be 1-{MAX_KEY_LENGTH} characters")])
    token = bearer_token(request)
    scope = hash_api_key(token) if token else "anonymous"
    person = getattr(getattr(request.state, "principal", None), "person", None)
    if person is not None:  # the console's key acts for many people: each has its own keys
        scope = hash_api_key(f"{scope}:person:{person}")
    fingerprint = request_fingerprint(request.method, request.url.path, request.url.query, body)
    outcome = claim_key(
        ctx.db,
        ctx.tables,
        keyring=ctx.keyring,
        scope=scope,
        key=key,
        request_hash=fingerprint,
        now=ctx.clock.now(),
        lease=timedelta(seconds=ctx.settings.idempotency_lease_seconds),
    )
    if isinstance(outcome, Replay):
        return Response(
            outcome.body,
            status_code=outcome.status,
            media_type=outcome.content_type,
            headers={REPLAYED_HEADER: "true"},
        )
    if isinstance(outcome, Mismatch):
        raise ValidationProblem(
            [(f"header.{IDEMPOTENCY_HEADER}", "was already used with a different request")],
            detail="this Idempotency-Key was already used with a different request body",
        )
    if isinstance(outcome, InProgress):
        raise Conflict(
            "a request with this Idempotency-Key is still being processed; retry later",
            current_state="in_progress",
        )
    return outcome


class ServiceRoute(APIRoute):
    """An APIRoute that owns the request's unit of work and idempotency."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, _writing_endpoint(endpoint), **kwargs)
        self.int_params = frozenset(_int_params(self.dependant))

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
            request.state.session = session
            bound = _unit.set(unit)
            try:
                response = await original(request)
                claim = unit.claim
                if claim is not None:  # set only once start() began writing; a replay leaves it None
                    if response.status_code < 500 and hasattr(response, "body"):
                        await run_in_threadpool(
                            complete_key,
                            session,
                            ctx.tables,
                            keyring=ctx.keyring,
                            claim=claim,
                            status=response.status_code,
                            body=bytes(response.body).decode("utf-8"),
                            content_type=response.media_type or "application/json",
                        )
                    else:
                        raise RuntimeError("unstorable response for an idempotent request")
                await run_in_threadpool(session.commit)
                if claim is not None:
                    await run_in_threadpool(let_go, claim)
            except BaseException:
                await run_in_threadpool(session.rollback)
                if unit.claim is not None:
                    await run_in_threadpool(release_key, ctx.db, ctx.tables, claim=unit.claim)
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
