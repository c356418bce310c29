"""Who may call what: the role dependencies of the escrow routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shared.auth import Principal, Role, require_roles

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


async def raw_body(request: Request) -> bytes:
    """The request body exactly as received (signatures are over these bytes)."""
    return await request.body()


RawBodyDep = Annotated[bytes, Depends(raw_body)]
