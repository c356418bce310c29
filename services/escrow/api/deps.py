"""Who may call what (the role dependencies of the escrow routes), and the typed context."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.escrow.settings import EscrowContext
from shared.api import get_context
from shared.auth import Principal, Role, require_roles, service_caller

EscrowContextDep = Annotated[EscrowContext, Depends(get_context)]
"""The escrow service's context, its settings typed."""

MarketplaceDep = Annotated[Principal, Depends(require_roles(Role.MARKETPLACE, Role.ADMIN))]
"""Marketplace checkout (its own escrows only) or an admin."""

EscrowReaderDep = Annotated[Principal, Depends(require_roles(Role.MARKETPLACE, Role.ADMIN, Role.AUDITOR))]
"""Anyone who may read escrows (a marketplace key only its own)."""

AdminDep = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
"""Admins only (arbiters, payouts, the sandbox helpers)."""

FinanceReaderDep = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.AUDITOR))]
"""Admins and auditors."""

LOANS = service_caller("loans")
"""The loans service's credential (``service:loans``): the only service escrow admits."""

AssignmentWriterDep = Annotated[Principal, Depends(require_roles(Role.ADMIN, LOANS))]
"""Admins and the loans service (an assignment diverts a seller's proceeds to a loan)."""

AssignmentReaderDep = Annotated[Principal, Depends(require_roles(Role.ADMIN, LOANS, Role.AUDITOR))]
"""Admins, the loans service and auditors."""

TradeReaderDep = Annotated[Principal, Depends(require_roles(Role.ADMIN, LOANS, Role.AUDITOR))]
"""Who reads a party's trade summary: the loans service (scoring a borrower), auditors, admins."""
