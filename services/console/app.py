"""The console's FastAPI application: pages, static files, HTML error pages, and the platform
routes every service has (its own audit chain at ``/v1/audit/verify``)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from services.console import api
from services.console.api.errors import install_page_errors
from services.console.definition import SERVICE
from services.console.pages import STATIC
from services.console.service.backends import http_clients
from services.console.settings import ConsoleContext
from shared.app import create_service_app
from shared.platform import ServiceContext


def page_routers() -> list[APIRouter]:
    """The ``router`` of every module in ``services/console/api/`` (one module per area)."""
    routers = []
    for module in sorted(pkgutil.iter_modules(api.__path__), key=lambda m: m.name):
        loaded = importlib.import_module(f"{api.__name__}.{module.name}")
        router = getattr(loaded, "router", None)
        if isinstance(router, APIRouter):
            routers.append(router)
    return routers


def create_app(ctx: ConsoleContext | None = None, http: Mapping[str, httpx.Client] | None = None) -> FastAPI:
    """Build the console on ``ctx`` (from the environment when omitted).

    ``http`` replaces the HTTP clients of scoring, escrow and loans built from the settings
    (tests pass clients over the real services in-process); the app closes only its own.
    """
    ctx = ctx or ServiceContext.build(SERVICE)
    owned = http is None
    clients = dict(http) if http is not None else http_clients(ctx.settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            for client in clients.values():
                client.close()

    app = create_service_app(
        ctx,
        title="agrifin console",
        description="Where loan officers, credit managers, auditors and marketplace operators work.",
        routers=page_routers(),
    )
    app.router.lifespan_context = lifespan
    app.state.http = clients
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_page_errors(app)
    return app
