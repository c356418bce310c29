"""Assignment-of-proceeds routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from services.escrow.api.deps import AssignmentReaderDep, AssignmentWriterDep, EscrowContextDep
from services.escrow.schemas import AssignmentIn, AssignmentList, AssignmentOut
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
