"""The loans service's FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from services.loans.definition import SERVICE
from shared.app import create_service_app
from shared.platform import ServiceContext


def create_app(ctx: ServiceContext | None = None) -> FastAPI:
    """Build the loans app on ctx (a context from the environment when omitted)."""
    ctx = ctx or ServiceContext.build(SERVICE)
    return create_service_app(
        ctx,
        title="agrifin loans",
        description="Small agricultural loans from application to close.",
        routers=[],
    )
