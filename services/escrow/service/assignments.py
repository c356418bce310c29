"""Assignment of proceeds: a share of a seller's every release swept to a lender up to a cap.

The sweeping itself happens in ``transitions`` when a release is posted; here assignments
are made, read and closed. The shares of a seller's active assignments in one currency may add up to
at most 10,000 bps; creations for one seller are serialised so two cannot both pass that check.

Statuses: ``active`` (swept by every release), ``repaid`` (its cap swept in full) and
``closed`` (the loan was repaid, written off or closed: ``POST /v1/assignments/{id}/close``).
Only active assignments are swept (``lock_active_assignments``), so a closed one never is
again; the close locks the assignment's row, which a release sweeping it holds too, so a
release in flight finishes first and one after the close sees it closed. A closed
assignment's share no longer counts against the seller's 10,000 bps.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.escrow.domain.postings import lender_account
from services.escrow.models import AssignmentRow
from services.escrow.presenters import assignment_out
from services.escrow.repository import assignments as assignment_repo
from services.escrow.repository.ledger import ensure_accounts
from services.escrow.schemas import AssignmentIn, AssignmentList, AssignmentOut
from services.escrow.settings import EscrowContext
from shared.changes import new_id, record_change
from shared.errors import Conflict, NotFound, ValidationProblem

CLOSABLE = frozenset({"active", "repaid"})
"""Statuses an assignment can be closed from."""


def create_assignment(
    session: Session, ctx: EscrowContext, *, actor: str, body: AssignmentIn
) -> AssignmentOut:
    """Assign a share of a seller's releases to a lender until the cap is repaid."""
    now = ctx.clock.now()
    maximum = ctx.settings.max_amount_for(body.currency)
    if body.cap_minor > maximum:
        raise ValidationProblem([("cap_minor", f"must be at most {maximum} {body.currency}")])
    assignment_repo.serialize_seller(session, seller_id=body.seller_id, currency=body.currency)
    taken = assignment_repo.active_share_bps(session, seller_id=body.seller_id, currency=body.currency)
    if taken + body.share_bps > 10_000:
        raise Conflict(
            f"seller {body.seller_id!r} has already assigned {taken} bps of {body.currency} releases; "
            f"{body.share_bps} more would exceed 10000",
            current_state="fully_assigned",
            assigned_bps=taken,
        )
    ensure_accounts(session, refs=[lender_account(lender_id=body.lender_id, currency=body.currency)], now=now)
    row = AssignmentRow(
        id=new_id(),
        seller_id=body.seller_id,
        lender_id=body.lender_id,
        currency=body.currency,
        share_bps=body.share_bps,
        cap_minor=body.cap_minor,
        swept_minor=0,
        loan_ref=body.loan_ref,
        status="active",
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    data = body.model_dump() | {"assignment_id": row.id}
    record_change(
        session, ctx, actor=actor, action="assignment.created", subject=f"assignment:{row.id}", payload=data
    )
    return assignment_out(row)


def close_assignment(
    session: Session, ctx: EscrowContext, *, actor: str, assignment_id: str
) -> AssignmentOut:
    """Close an active (or repaid) assignment: nothing is swept to its lender any more."""
    row = assignment_repo.lock_assignment(session, assignment_id)
    if row is None:
        raise NotFound(f"assignment {assignment_id} not found")
    if row.status not in CLOSABLE:
        raise Conflict(
            f"assignment {assignment_id} is {row.status}; it cannot be closed",
            current_state=row.status,
            allowed_actions=[],
        )
    before = row.status
    row.status = "closed"
    row.updated_at = ctx.clock.now()
    session.flush()
    record_change(
        session,
        ctx,
        actor=actor,
        action="assignment.closed",
        subject=f"assignment:{row.id}",
        payload={
            "assignment_id": row.id,
            "loan_ref": row.loan_ref,
            "seller_id": row.seller_id,
            "lender_id": row.lender_id,
            "currency": row.currency,
            "swept_minor": row.swept_minor,
            "cap_minor": row.cap_minor,
            "previous_status": before,
        },
    )
    return assignment_out(row)


def read_assignment(session: Session, assignment_id: str) -> AssignmentOut:
    """An assignment by id."""
    row = assignment_repo.get_assignment(session, assignment_id)
    if row is None:
        raise NotFound(f"assignment {assignment_id} not found")
    return assignment_out(row)


def list_assignments(
    session: Session, *, seller_id: str | None, loan_ref: str | None, limit: int, offset: int = 0
) -> AssignmentList:
    """Assignments, newest first (filter by seller or loan)."""
    rows = assignment_repo.list_assignments(
        session, seller_id=seller_id, loan_ref=loan_ref, limit=limit, offset=offset
    )
    return AssignmentList(assignments=[assignment_out(row) for row in rows])
