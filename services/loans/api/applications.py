"""Routes: loan applications, their score, and the credit decision."""

from __future__ import annotations

from datetime import datetime

from fastapi import Query, Response

from services.loans.api.deps import EscrowDep, LoansContextDep, Manager, Officer, Reader, ScoringDep
from services.loans.presenters import application_out, loan_out
from services.loans.schemas.applications import (
    ApplicationIn,
    ApplicationOut,
    DecisionHint,
    DecisionIn,
    ListOrder,
)
from services.loans.schemas.loans import LoanOut
from services.loans.service import applications as service
from shared.api import SessionDep, calls_out_first, model_response, service_router

router = service_router(prefix="/v1", tags=["applications"])


@router.post("/applications", status_code=201, response_model=ApplicationOut)
@calls_out_first  # escrow's trade summary and scoring, before the application is written
def submit_application(
    body: ApplicationIn,
    ctx: LoansContextDep,
    session: SessionDep,
    who: Officer,
    scoring: ScoringDep,
    escrow: EscrowDep,
) -> Response:
    """Submit an application: checked against the product, its omitted marketplace features filled
    from escrow's trade summary (linked borrowers), then scored (or left pending_score)."""
    application = service.submit_application(session, ctx, scoring, escrow=escrow, who=who, body=body)
    return model_response(application_out(application), status_code=201)  # response_model not run again


@router.get("/applications", response_model=list[ApplicationOut])
def list_applications(
    session: SessionDep,
    _: Reader,
    status: str | None = Query(default=None, max_length=20),
    borrower_id: str | None = Query(default=None, max_length=36),
    product_id: str | None = Query(default=None, max_length=36),
    decision_hint: DecisionHint | None = Query(default=None),
    grade: str | None = Query(default=None, min_length=1, max_length=16),
    submitted_from: datetime | None = Query(
        default=None, description="Submitted at or after this time (ISO 8601; no offset means UTC)."
    ),
    submitted_to: datetime | None = Query(
        default=None, description="Submitted before this time (ISO 8601; no offset means UTC)."
    ),
    order: ListOrder = Query(default="newest"),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> list[ApplicationOut]:
    """Applications, newest or oldest first, filtered (the review queue: ``status=scored&order=oldest``)."""
    rows = service.list_applications(
        session,
        status=status,
        borrower_id=borrower_id,
        product_id=product_id,
        decision_hint=decision_hint,
        grade=grade,
        submitted_from=submitted_from,
        submitted_to=submitted_to,
        order=order,
        limit=limit,
        offset=offset,
    )
    return [application_out(a) for a in rows]


@router.get("/applications/{application_id}", response_model=ApplicationOut)
def get_application(application_id: str, session: SessionDep, _: Reader) -> ApplicationOut:
    """One application with its score, its decision and the actions it allows."""
    return application_out(service.require_application(session, application_id))


@router.post("/applications/{application_id}/approve", status_code=201, response_model=LoanOut)
def approve_application(
    application_id: str,
    ctx: LoansContextDep,
    session: SessionDep,
    who: Manager,
    body: DecisionIn | None = None,
) -> LoanOut:
    """Approve a scored application (maker-checker when the product asks; a note over a decline hint)."""
    return loan_out(
        service.approve_application(
            session, ctx, who=who, application_id=application_id, note=body.note if body else None
        )
    )


@router.post("/applications/{application_id}/reject", response_model=ApplicationOut)
def reject_application(
    application_id: str,
    ctx: LoansContextDep,
    session: SessionDep,
    who: Manager,
    body: DecisionIn | None = None,
) -> ApplicationOut:
    """Reject a scored application; the answer carries the adverse-action reason codes."""
    return application_out(
        service.reject_application(
            session, ctx, who=who, application_id=application_id, note=body.note if body else None
        )
    )


@router.post("/applications/{application_id}/withdraw", response_model=ApplicationOut)
def withdraw_application(
    application_id: str,
    ctx: LoansContextDep,
    session: SessionDep,
    who: Officer,
    body: DecisionIn | None = None,
) -> ApplicationOut:
    """Withdraw an application that is not decided yet."""
    return application_out(
        service.withdraw_application(
            session, ctx, who=who, application_id=application_id, note=body.note if body else None
        )
    )
