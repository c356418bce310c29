"""The FastAPI application factory every service uses.

It wires error handling (problem+json), request ids and metrics, ``/healthz``,
``/readyz`` (database reachable, migrations at head, plus the service's own checks),
``/metrics``, the platform routes (webhook subscriptions, audit trail) and refuses to build
an app with a route that declares no access (deny by default).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from sqlalchemy import text
from starlette.routing import BaseRoute

from shared.auth import declared_access, public_access
from shared.errors import install_error_handlers
from shared.migrate import at_head
from shared.observability import RequestContextMiddleware
from shared.platform import ServiceContext
from shared.platform_api import platform_router

log = logging.getLogger("agrifin.app")

ReadinessCheck = Callable[[ServiceContext], str | None]
"""Returns None when ready, else a short reason."""


def _probe_router(ctx: ServiceContext, checks: Sequence[ReadinessCheck]) -> APIRouter:
    router = APIRouter(tags=["operations"], dependencies=[Depends(public_access())])

    @router.get("/healthz", summary="Process is up")
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "service": ctx.definition.name}

    @router.get("/readyz", summary="Ready to serve")
    def readyz() -> JSONResponse:
        """Readiness: database reachable and migrated to head, plus service checks."""
        problems: list[str] = []
        try:
            with ctx.db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                if not at_head(conn, ctx.definition):
                    problems.append("database is not migrated to head")
        except Exception as exc:  # any driver error means not ready
            problems.append(f"database unreachable: {type(exc).__name__}")
        if not problems:
            for check in checks:
                if (reason := check(ctx)) is not None:
                    problems.append(reason)
        status = 200 if not problems else 503
        body = {
            "status": "ready" if not problems else "not_ready",
            "service": ctx.definition.name,
            "problems": problems,
        }
        return JSONResponse(body, status_code=status)

    @router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        """Prometheus text exposition."""
        return PlainTextResponse(ctx.metrics.render(), media_type="text/plain; version=0.0.4")

    return router


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, descending into included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)


def _request_threads(threads: int) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: its event loop runs ``threads`` requests at once in worker threads
    (``BaseServiceSettings.request_threads``; anyio's default limiter, which every sync
    endpoint and dependency of the loop takes a turn of)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threads
        yield

    return lifespan


def create_service_app(
    ctx: ServiceContext,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    readiness_checks: Sequence[ReadinessCheck] = (),
) -> FastAPI:
    """Build a service app on ``ctx`` with everything cross-cutting wired in."""
    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=_request_threads(ctx.settings.request_threads),
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, metrics=ctx.metrics)
    app.include_router(_probe_router(ctx, readiness_checks))
    app.include_router(platform_router(ctx.definition.name))
    for router in routers:
        app.include_router(router)
    undeclared = [
        f"{sorted(route.methods or ())} {route.path}"
        for route in api_routes(app.routes)
        if declared_access(route.dependant.dependencies) is None
    ]
    if undeclared:
        raise RuntimeError(f"routes without declared access (deny by default): {undeclared}")
    return app
