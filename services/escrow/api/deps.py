"""Who may call what (the role dependencies of the escrow routes), and the typed context."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.escrow.settings import EscrowContext
from shared.api import get_context
from shared.auth import Principal, Role, require_roles

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

AssignmentWriterDep = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.SERVICE))]
"""Admins and services (the loans service)."""

AssignmentReaderDep = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.SERVICE, Role.AUDITOR))]
"""Admins, services and auditors."""
