"""The loans service's FastAPI application."""

from __future__ import annotations

import threading
from collections.abc import Callable

from fastapi import FastAPI

from services.loans.api import applications, inbound, loans, operations, products
from services.loans.definition import SERVICE
from services.loans.scoring_client import ScoringClient, build_scoring_client
from services.loans.settings import LoansSettings
from shared.app import create_service_app
from shared.platform import ServiceContext


def scoring_client_factory(ctx: ServiceContext, client: ScoringClient | None) -> Callable[[], ScoringClient]:
    """Return the injected client, or build one from the settings on first use."""
    lock = threading.Lock()
    built: list[ScoringClient] = [client] if client is not None else []

    def get() -> ScoringClient:
        if not built:
            with lock:
                if not built:
                    settings = ctx.settings
                    assert isinstance(settings, LoansSettings)
                    built.append(build_scoring_client(settings))
        return built[0]

    return get


def create_app(ctx: ServiceContext | None = None, scoring_client: ScoringClient | None = None) -> FastAPI:
    """Build the loans app on ctx (a context from the environment when omitted).

    ``scoring_client`` replaces the one built from the settings (tests inject one over an
    ``httpx.MockTransport`` or a real scoring server). Scoring being down never makes loans
    unready: applications wait as ``pending_score``.
    """
    ctx = ctx or ServiceContext.build(SERVICE)
    app = create_service_app(
        ctx,
        title="agrifin loans",
        description="Small agricultural loans from application to close.",
        routers=[products.router, applications.router, loans.router, operations.router, inbound.router],
    )
    app.state.scoring_client = scoring_client_factory(ctx, scoring_client)
    return app
