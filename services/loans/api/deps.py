"""Who may call what (deny by default), the typed loans context, and the scoring and escrow clients.

loan_officer submits, quotes and collects; credit_manager approves, rejects and writes off;
auditor reads everything; admin does everything; escrow's credential (``service:escrow``, a
``service`` key owned by ``escrow``) may post repayments from sale proceeds only and read the
business date; no other service, and no marketplace key, has access to loans. (Escrow's sweeps
reach loans as signed webhooks, not through these routes.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from services.loans.service.scoring import ScoringClient
from services.loans.settings import LoansContext
from shared.api import get_context
from shared.auth import Principal, Role, require_roles, service_caller
from shared.clients.escrow import EscrowClient

_O, _M, _A, _ADM = Role.LOAN_OFFICER, Role.CREDIT_MANAGER, Role.AUDITOR, Role.ADMIN
_S = service_caller("escrow")

Reader = Annotated[Principal, Depends(require_roles(_O, _M, _A, _ADM))]
ProductWriter = Annotated[Principal, Depends(require_roles(_M, _ADM))]
Quoter = Annotated[Principal, Depends(require_roles(_O, _M, _ADM))]
Officer = Annotated[Principal, Depends(require_roles(_O, _ADM))]
BorrowerWriter = Annotated[Principal, Depends(require_roles(_O, _M, _ADM))]
Manager = Annotated[Principal, Depends(require_roles(_M, _ADM))]
Collector = Annotated[Principal, Depends(require_roles(_O, _ADM, _S))]
Admin = Annotated[Principal, Depends(require_roles(_ADM))]
DateReader = Annotated[Principal, Depends(require_roles(_O, _M, _A, _ADM, _S))]
PortfolioReader = Annotated[Principal, Depends(require_roles(_O, _M, _A, _ADM))]
RunReader = Annotated[Principal, Depends(require_roles(_A, _ADM))]

LoansContextDep = Annotated[LoansContext, Depends(get_context)]
"""The app's context with its settings typed as ``LoansSettings``."""


# The getters below are ``async`` although they do no I/O (they hand out the app's clients, built
# on first use): FastAPI runs a plain ``def`` dependency in a worker thread, a hand-off each.
async def get_scoring_client(request: Request) -> ScoringClient:
    """The app's scoring client (built lazily from settings unless one was injected)."""
    client: ScoringClient = request.app.state.scoring_client()
    return client


ScoringDep = Annotated[ScoringClient, Depends(get_scoring_client)]


async def get_escrow_client(request: Request) -> Callable[[], EscrowClient]:
    """The app's escrow client, built from settings on first use unless one was injected."""
    factory: Callable[[], EscrowClient] = request.app.state.escrow_client
    return factory


EscrowDep = Annotated[Callable[[], EscrowClient], Depends(get_escrow_client)]
"""Gives the escrow client (trade summaries) when called; nothing is built until then."""
