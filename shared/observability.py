"""Request ids, JSON logs and Prometheus metrics.

A request id arrives in ``X-Request-ID`` (or is minted), lives in a context variable for
the duration of the request, is stamped on every log line and is forwarded by the shared
HTTP client, so one request can be followed across services.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from contextvars import ContextVar
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
_request_id: ContextVar[str | None] = ContextVar("agrifin_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served, if any."""
    return _request_id.get()


def set_request_id(value: str | None) -> None:
    """Bind a request id to the current context (workers and CLI jobs use this)."""
    _request_id.set(value)


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


def configure_logging(level: str = "INFO", *, service: str = "agrifin") -> None:
    """Send JSON log lines carrying the request id and service name to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"levelname": "level", "asctime": "ts"},
            static_fields={"service": service},
        )
    )
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # /readyz asks Alembic for the current revision on every probe; its INFO lines are noise.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))


class Metrics:
    """A per-app Prometheus registry with request counters and latency histograms."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "agrifin_http_requests_total",
            "HTTP requests served",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "agrifin_http_request_duration_seconds",
            "HTTP request latency",
            ["service", "method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.service = service

    def render(self) -> bytes:
        """Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


class RequestContextMiddleware:
    """Pure ASGI middleware: request id in and out, metrics, access log."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.log = logging.getLogger("agrifin.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        undecodable: str | None = None
        for k, v in scope.get("headers", []):
            try:
                headers[k.decode("latin-1").lower()] = v.decode("utf-8")
            except UnicodeDecodeError:
                undecodable = undecodable or k.decode("latin-1")
        incoming = headers.get(REQUEST_ID_HEADER.lower(), "")
        usable = 0 < len(incoming) <= 128 and incoming.isascii() and incoming.isprintable()
        request_id = incoming if usable else uuid.uuid4().hex
        if undecodable is not None:
            # Refused before any route (even /healthz) can trip over it: a 400, never a 500.
            self.log.info("refused a header that is not UTF-8", extra={"header": undecodable})
            await _send_problem(
                send,
                request_id,
                str(scope.get("path", "")).replace("\x00", ""),
                status=400,
                title="Bad Request",
                slug="bad-request",
                detail=f"header {undecodable!r} is not valid UTF-8",
            )
            return
        token = _request_id.set(request_id)
        status: dict[str, int] = {"code": 500}
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = 1
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (REQUEST_ID_HEADER.lower().encode(), request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Anything no handler turned into a response: log it with the request id and
            # answer a generic problem; the client never sees internals.
            self.log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if "started" not in status:
                await _send_problem(
                    send,
                    request_id,
                    str(scope.get("path", "")),
                    status=500,
                    title="Internal Server Error",
                    slug="internal",
                    detail="An unexpected error occurred; quote the request id when reporting it.",
                )
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope.get("method", "")
            self.metrics.requests.labels(self.metrics.service, method, route, status["code"]).inc()
            self.metrics.latency.labels(self.metrics.service, method, route).observe(elapsed)
            self.log.info(
                "request",
                extra={
                    "method": method,
                    "path": scope.get("path"),
                    "status": status["code"],
                    "ms": round(elapsed * 1000, 2),
                },
            )
            _request_id.reset(token)


async def _send_problem(
    send: Send, request_id: str, path: str, *, status: int, title: str, slug: str, detail: str
) -> None:
    body = json.dumps(
        {
            "type": f"https://agrifin.dev/problems/{slug}",
            "title": title,
            "status": status,
            "instance": path,
            "request_id": request_id,
            "detail": detail,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
                (REQUEST_ID_HEADER.lower().encode(), request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _route_template(scope: dict[str, Any] | Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
