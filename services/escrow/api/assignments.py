"""Assignment-of-proceeds routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from services.escrow.api.deps import AssignmentReaderDep, AssignmentWriterDep, EscrowContextDep
from services.escrow.schemas import (
    AssignmentIn,
    AssignmentList,
    AssignmentOut,
    AssignmentRefundIn,
    AssignmentRefundOut,
    AssignmentSweeps,
)
from services.escrow.service import assignments
from shared.api import SessionDep, service_router

router = service_router(prefix="/v1/assignments", tags=["assignments"])


@router.post("", status_code=201, response_model=AssignmentOut)
def create_assignment(
    body: AssignmentIn,
    ctx: EscrowContextDep,
    session: SessionDep,
    who: AssignmentWriterDep,
) -> AssignmentOut:
    """Assign share_bps of a seller's every release to a lender until cap_minor is repaid."""
    return assignments.create_assignment(session, ctx, actor=who.actor, body=body)


@router.post("/{assignment_id}/close", response_model=AssignmentOut)
def close_assignment(
    assignment_id: str, ctx: EscrowContextDep, session: SessionDep, who: AssignmentWriterDep
) -> AssignmentOut:
    """Close an assignment (its loan is repaid, written off or closed): no release sweeps it again."""
    return assignments.close_assignment(session, ctx, actor=who.actor, assignment_id=assignment_id)


@router.post("/{assignment_id}/refunds", status_code=201, response_model=AssignmentRefundOut)
def refund_sweep(
    assignment_id: str,
    body: AssignmentRefundIn,
    response: Response,
    ctx: EscrowContextDep,
    session: SessionDep,
    who: AssignmentWriterDep,
) -> AssignmentRefundOut:
    """Refund swept money the loan did not take to the seller (201; 200 for a reference already used)."""
    refund, created = assignments.refund_sweep(
        session, ctx, actor=who.actor, assignment_id=assignment_id, body=body
    )
    if not created:
        response.status_code = 200
    return refund


@router.get("/{assignment_id}/sweeps", response_model=AssignmentSweeps)
def assignment_sweeps(assignment_id: str, session: SessionDep, _: AssignmentReaderDep) -> AssignmentSweeps:
    """An assignment's sweeps (each with its assignment.swept event id) and refunds, oldest first."""
    return assignments.assignment_sweeps(session, assignment_id)


@router.get("", response_model=AssignmentList)
def list_assignments(
    session: SessionDep,
    _: AssignmentReaderDep,
    seller_id: Annotated[str | None, Query(max_length=128)] = None,
    loan_ref: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> AssignmentList:
    """Assignments, newest first (filter by seller or loan)."""
    return assignments.list_assignments(
        session, seller_id=seller_id, loan_ref=loan_ref, limit=limit, offset=offset
    )


@router.get("/{assignment_id}", response_model=AssignmentOut)
def read_assignment(assignment_id: str, session: SessionDep, _: AssignmentReaderDep) -> AssignmentOut:
    """An assignment and how much of its cap has been swept."""
    return assignments.read_assignment(session, assignment_id)
