"""The loans service's FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from services.loans.api import applications, inbound, loans, operations, products, reconciliation
from services.loans.definition import SERVICE
from services.loans.service.scoring import ScoringClient, scoring_client_factory
from services.loans.service.trade_history import escrow_client_factory
from services.loans.settings import LoansContext
from shared.app import create_service_app
from shared.auth import Role
from shared.clients.escrow import EscrowClient
from shared.jobs import jobs_router
from shared.platform import ServiceContext

__all__ = ["create_app", "scoring_client_factory"]


def create_app(
    ctx: LoansContext | None = None,
    scoring_client: ScoringClient | None = None,
    escrow_client: EscrowClient | None = None,
) -> FastAPI:
    """Build the loans app on ctx (a context from the environment when omitted).

    ``scoring_client`` and ``escrow_client`` (the trade summaries that fill marketplace
    features) replace the ones built from the settings (tests inject them over an
    ``httpx.MockTransport`` or a real server). Scoring or escrow being down never makes loans
    unready: applications wait as ``pending_score``.
    """
    ctx = ctx or ServiceContext.build(SERVICE)
    app = create_service_app(
        ctx,
        title="agrifin loans",
        description="Small agricultural loans from application to close.",
        routers=[
            products.router,
            applications.router,
            loans.router,
            operations.router,
            inbound.router,
            reconciliation.router,
            jobs_router(Role.ADMIN, Role.AUDITOR),  # who may close business, and auditors
        ],
    )
    app.state.scoring_client = scoring_client_factory(ctx, scoring_client)
    app.state.escrow_client = escrow_client_factory(ctx, escrow_client)
    return app
