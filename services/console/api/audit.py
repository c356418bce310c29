"""Audit pages (auditors, admins): every service's audit-chain verification with its head, and
escrow's trial balance and ledger verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.console.api.deps import AUDITORS, BackendsDep, ConsoleContextDep, require_person
from services.console.pages import render
from services.console.service import audit
from services.console.service.sessions import Person

router = APIRouter(include_in_schema=False)

Auditor = Annotated[Person, Depends(require_person(*AUDITORS))]
Head = Annotated[str, Query(max_length=100)]


@router.get("/audit")
def audit_page(
    request: Request,
    person: Auditor,
    ctx: ConsoleContextDep,
    b: BackendsDep,
    head_scoring: Head = "",
    head_escrow: Head = "",
    head_loans: Head = "",
    head_console: Head = "",
) -> Response:
    """Each chain verified on its own (against a recorded head when given), and escrow's ledger."""
    heads = {
        "scoring": head_scoring.strip(),
        "escrow": head_escrow.strip(),
        "loans": head_loans.strip(),
        "console": head_console.strip(),
    }
    return render(
        request,
        "audit/index.html",
        {
            "report": audit.audit_page(ctx, b, heads),
            "heads": heads,
            "errors": audit.head_errors(heads),
            "chains": audit.CHAINS,
        },
    )


@router.get("/audit/escrow-ledger")
def escrow_ledger(request: Request, person: Auditor, b: BackendsDep) -> Response:
    """Escrow's trial balance, every account, and its ledger verification with every problem."""
    return render(request, "audit/escrow_ledger.html", {"ledger": audit.escrow_ledger(b.escrow)})
