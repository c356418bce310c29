"""Routes: loan applications, their score, and the credit decision."""

from __future__ import annotations

import json

from fastapi import Query

from services.loans.api.deps import Manager, Officer, Reader, ScoringDep
from services.loans.api.loans import LoanOut, loan_out
from services.loans.api.schemas_applications import (
    AdverseReason,
    ApplicationIn,
    ApplicationOut,
    DecisionIn,
    DecisionOut,
    ReasonOut,
    ScoreOut,
)
from services.loans.models import Application
from services.loans.repository import applications as repo
from services.loans.service import applications as service
from shared.api import ContextDep, SessionDep, service_router
from shared.clock import as_utc

router = service_router(prefix="/v1", tags=["applications"])


def application_out(application: Application) -> ApplicationOut:
    """The API view of an application."""
    score = None
    if application.score_id is not None and application.score is not None:
        reasons = [
            ReasonOut(
                code=r["code"],
                feature=r.get("feature"),
                points=None if r.get("points") is None else str(r["points"]),
                text=r.get("text"),
            )
            for r in json.loads(application.reasons or "[]")
        ]
        score = ScoreOut(
            id=application.score_id,
            score=application.score,
            grade=application.grade,
            pd=application.pd,
            decision_hint=application.decision_hint,
            model_version=application.model_version,
            reasons=reasons,
            scored_at=as_utc(application.scored_at) if application.scored_at else None,
        )
    decision = None
    if application.decided_by is not None and application.decided_at is not None:
        decision = DecisionOut(
            by=application.decided_by, at=as_utc(application.decided_at), note=application.decision_note
        )
    adverse = None
    if application.adverse_action_reasons is not None:
        adverse = [AdverseReason(**r) for r in json.loads(application.adverse_action_reasons)]
    return ApplicationOut(
        id=application.id,
        status=application.status,
        product_id=application.product_id,
        borrower_id=application.borrower_id,
        currency=application.currency,
        principal_minor=application.principal_minor,
        annual_interest_rate=application.annual_interest_rate,
        number_of_repayments=application.number_of_repayments,
        disbursement_date=application.disbursement_date,
        first_repayment_date=application.first_repayment_date,
        features=json.loads(application.features),
        submitted_by=application.submitted_by,
        submitted_at=as_utc(application.submitted_at),
        score=score,
        score_attempts=application.score_attempts,
        last_score_error=application.last_score_error,
        decision=decision,
        adverse_action_reasons=adverse,
        loan_id=application.loan_id,
    )


@router.post("/applications", status_code=201, response_model=ApplicationOut)
def submit_application(
    body: ApplicationIn, ctx: ContextDep, session: SessionDep, who: Officer, scoring: ScoringDep
) -> ApplicationOut:
    """Submit an application: checked against the product, then scored (or left pending_score)."""
    return application_out(service.submit_application(session, ctx, scoring, who=who, body=body))


@router.get("/applications", response_model=list[ApplicationOut])
def list_applications(
    session: SessionDep,
    _: Reader,
    status: str | None = Query(default=None, max_length=20),
    borrower_id: str | None = Query(default=None, max_length=36),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> list[ApplicationOut]:
    """Applications, newest first."""
    rows = repo.list_applications(session, status=status, borrower_id=borrower_id, limit=limit, offset=offset)
    return [application_out(a) for a in rows]


@router.get("/applications/{application_id}", response_model=ApplicationOut)
def get_application(application_id: str, session: SessionDep, _: Reader) -> ApplicationOut:
    """One application with its score and decision."""
    return application_out(service.require_application(session, application_id))


@router.post("/applications/{application_id}/approve", status_code=201, response_model=LoanOut)
def approve_application(
    application_id: str, ctx: ContextDep, session: SessionDep, who: Manager, body: DecisionIn | None = None
) -> LoanOut:
    """Approve a scored application (maker-checker when the product asks); creates the loan."""
    loan = service.approve_application(
        session, ctx, who=who, application_id=application_id, note=body.note if body else None
    )
    return loan_out(session, ctx, loan)


@router.post("/applications/{application_id}/reject", response_model=ApplicationOut)
def reject_application(
    application_id: str, ctx: ContextDep, session: SessionDep, who: Manager, body: DecisionIn | None = None
) -> ApplicationOut:
    """Reject a scored application; the answer carries the adverse-action reason codes."""
    return application_out(
        service.reject_application(
            session, ctx, who=who, application_id=application_id, note=body.note if body else None
        )
    )


@router.post("/applications/{application_id}/withdraw", response_model=ApplicationOut)
def withdraw_application(
    application_id: str, ctx: ContextDep, session: SessionDep, who: Officer, body: DecisionIn | None = None
) -> ApplicationOut:
    """Withdraw an application that is not decided yet."""
    return application_out(
        service.withdraw_application(
            session, ctx, who=who, application_id=application_id, note=body.note if body else None
        )
    )
