"""The escrow service's HTTP routes, one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from services.escrow.api import assignments, escrows, ledger, lots, parties, payouts, providers
from services.escrow.settings import EscrowSettings


def routers(settings: EscrowSettings) -> list[APIRouter]:
    """Every router of the service (the sandbox helpers only when the sandbox is enabled)."""
    out = [
        escrows.router,
        lots.router,
        providers.router,
        payouts.router,
        assignments.router,
        ledger.router,
        parties.router,
    ]
    if settings.sandbox_enabled:
        out.append(providers.sandbox_router)
    return out
