"""RFC 9457 problem details for every error a service returns.

Exception hierarchy (each carries its HTTP status; one handler renders them all)::

    ProblemError                 500 unless a subclass says otherwise
     ├── BadRequest              400
     ├── Unauthorized            401 (WWW-Authenticate: Bearer)
     ├── Forbidden               403
     ├── NotFound                404
     ├── Conflict                409, with ``current_state`` and ``allowed_actions``
     ├── PayloadTooLarge         413
     ├── UnsupportedMediaType    415
     ├── ValidationProblem       422, with ``errors: [{field, message}]``
     └── ServiceUnavailable      503 (also ``shared.db.WriteGateBusy``: the write gate stayed taken)

Anything else raised by a handler is logged with the request id and answered as a generic
500 problem by ``RequestContextMiddleware``: a stack trace never reaches the client.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.db import WriteGateBusy
from shared.observability import current_request_id

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://agrifin.dev/problems/"


class ProblemError(Exception):
    """An error that renders as ``application/problem+json``."""

    status: int = 500
    title: str = "Internal Server Error"
    slug: str = "internal"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """The problem document for this error."""
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body

    def headers(self) -> dict[str, str]:
        """Extra response headers."""
        return {}


class BadRequest(ProblemError):
    status, title, slug = 400, "Bad Request", "bad-request"


class Unauthorized(ProblemError):
    status, title, slug = 401, "Unauthorized", "unauthorized"

    def headers(self) -> dict[str, str]:
        """Tell the client which scheme to use."""
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(ProblemError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(ProblemError):
    status, title, slug = 404, "Not Found", "not-found"


class Conflict(ProblemError):
    status, title, slug = 409, "Conflict", "conflict"

    def __init__(
        self,
        detail: str,
        *,
        current_state: str | None = None,
        allowed_actions: Sequence[str] | None = None,
        **extensions: Any,
    ) -> None:
        if current_state is not None:
            extensions["current_state"] = current_state
        if allowed_actions is not None:
            extensions["allowed_actions"] = list(allowed_actions)
        super().__init__(detail, **extensions)


class PayloadTooLarge(ProblemError):
    status, title, slug = 413, "Payload Too Large", "payload-too-large"


class UnsupportedMediaType(ProblemError):
    status, title, slug = 415, "Unsupported Media Type", "unsupported-media-type"


class ValidationProblem(ProblemError):
    status, title, slug = 422, "Unprocessable Content", "validation"

    def __init__(self, errors: Sequence[tuple[str, str]], detail: str | None = None) -> None:
        items = [{"field": field, "message": message} for field, message in errors]
        if detail is None:
            detail = "; ".join(f"{i['field']}: {i['message']}" for i in items) or "invalid input"
        super().__init__(detail, errors=items)


class ServiceUnavailable(ProblemError):
    status, title, slug = 503, "Service Unavailable", "unavailable"


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details; ``errors`` lists the fields at fault, when there are any.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": ["string", "null"]},
        "request_id": {"type": ["string", "null"]},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "additionalProperties": True,
}

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}}}
    for status, description in (
        (400, "Bad request (e.g. a header that is not UTF-8)"),
        (401, "No valid API key"),
        (403, "The key's role or owner may not do this"),
        (404, "Not found, or not the caller's"),
        (409, "Not allowed in the record's current state (``allowed_actions`` says what is)"),
        (413, "Request body too large"),
        (415, "Request body is not JSON"),
        (422, "Invalid input; ``errors`` names each field"),
        (503, "Busy or a dependency is unavailable; retry"),
    )
}
"""The problem answers every service route may give, as documented in its OpenAPI."""


def problem_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    """A JSONResponse with the problem media type and the request id."""
    body.setdefault("request_id", current_request_id())
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_name(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] if parts[0] == "body" else parts
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    """Render every error of ``app`` as problem+json."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(exc.status, exc.to_problem(request.url.path), exc.headers())

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [(_field_name(e.get("loc", ())), str(e.get("msg", "invalid"))) for e in exc.errors()]
        problem = ValidationProblem(errors)
        return problem_response(422, problem.to_problem(request.url.path))

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        titles = {404: "Not Found", 405: "Method Not Allowed", 401: "Unauthorized"}
        body = {
            "type": PROBLEM_BASE + ("not-found" if exc.status_code == 404 else "http"),
            "title": titles.get(exc.status_code, "HTTP Error"),
            "status": exc.status_code,
            "detail": str(exc.detail),
            "instance": request.url.path,
        }
        return problem_response(exc.status_code, body, dict(exc.headers or {}))

    async def on_gate_busy(request: Request, exc: Exception) -> JSONResponse:
        problem = ServiceUnavailable(str(exc))
        return problem_response(problem.status, problem.to_problem(request.url.path))

    def retry_shortly(request: Request, message: str) -> JSONResponse:
        problem = ServiceUnavailable(message)
        return problem_response(problem.status, problem.to_problem(request.url.path), {"Retry-After": "1"})

    async def on_pool_exhausted(request: Request, exc: Exception) -> JSONResponse:
        # Every pooled connection stayed busy for the pool's timeout: overload, not a bug.
        return retry_shortly(request, "the service is at its database connection limit; retry shortly")

    async def on_database_operational(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OperationalError)
        if exc.statement is not None and not exc.connection_invalidated:
            raise exc  # an error of a statement (a bug, or a lock): the generic 500
        # No connection to be had (refused, the server's connection limit) or one lost: the
        # request's transaction never committed, so it may be sent again.
        return retry_shortly(request, "the database cannot be reached just now; retry shortly")

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(PoolTimeout, on_pool_exhausted)
    app.add_exception_handler(OperationalError, on_database_operational)
    app.add_exception_handler(WriteGateBusy, on_gate_busy)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
