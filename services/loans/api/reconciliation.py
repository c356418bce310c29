"""Routes: reconciliation of sale proceeds with escrow (auditors, admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from services.loans.api.deps import LoansContextDep, RunReader
from services.loans.presenters import reconciliation_out
from services.loans.schemas.reconciliation import ProceedsReconciliationOut
from services.loans.service.escrow_subscription import build_escrow_client
from services.loans.service.reconciliation import reconcile_proceeds
from shared.api import service_router
from shared.clients.escrow import EscrowClient

router = service_router(prefix="/v1", tags=["reconciliation"])


def get_escrow_client(request: Request, ctx: LoansContextDep) -> EscrowClient:
    """The app's escrow client (``create_app(escrow_client=...)``), else one from the settings."""
    factory = getattr(request.app.state, "escrow_client", None)
    client: EscrowClient = factory() if factory is not None else build_escrow_client(ctx.settings)
    return client


EscrowDep = Annotated[EscrowClient, Depends(get_escrow_client)]


@router.get("/reconciliation/proceeds", response_model=ProceedsReconciliationOut)
def reconcile(
    ctx: LoansContextDep,
    escrow: EscrowDep,
    _: RunReader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ProceedsReconciliationOut:
    """Loans' sale-proceeds repayments and refunds against escrow's sweeps, a page of loans at a time."""
    return reconciliation_out(reconcile_proceeds(ctx, escrow, limit=limit, offset=offset))
