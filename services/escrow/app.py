"""The escrow service's FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from services.escrow.api import routers
from services.escrow.definition import SERVICE
from services.escrow.settings import EscrowContext
from shared.app import create_service_app
from shared.platform import ServiceContext


def create_app(ctx: EscrowContext | None = None) -> FastAPI:
    """Build the escrow app on ctx (a context from the environment when omitted)."""
    ctx = ctx or ServiceContext.build(SERVICE)
    return create_service_app(
        ctx,
        title="agrifin escrow",
        description="Third-party custody of marketplace payments on a double-entry ledger.",
        routers=routers(ctx.settings),
    )
