"""Assignment of proceeds: a share of a seller's every release swept to a lender up to a cap.

The sweeping itself happens in ``transitions`` when a release is posted; here assignments
are made and read. The shares of a seller's active assignments in one currency may add up to
at most 10,000 bps; creations for one seller are serialised so two cannot both pass that check.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from services.escrow.domain.postings import lender_account
from services.escrow.models import AssignmentRow
from services.escrow.repository import assignments as assignment_repo
from services.escrow.repository.ledger import ensure_accounts
from services.escrow.schemas import AssignmentIn, AssignmentOut
from services.escrow.service.audit import audit_at_commit
from shared.clock import as_utc
from shared.errors import Conflict, NotFound
from shared.platform import ServiceContext
from shared.webhooks import emit_event


def assignment_out(row: AssignmentRow) -> AssignmentOut:
    """An assignment as the API shows it."""
    return AssignmentOut(
        id=row.id, seller_id=row.seller_id, lender_id=row.lender_id, currency=row.currency,
        share_bps=row.share_bps, cap_minor=row.cap_minor, swept_minor=row.swept_minor,
        remaining_minor=row.cap_minor - row.swept_minor, loan_ref=row.loan_ref, status=row.status,
        created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at),
    )


def create_assignment(
    session: Session, ctx: ServiceContext, *, actor: str, body: AssignmentIn
) -> AssignmentOut:
    """Assign a share of a seller's releases to a lender until the cap is repaid."""
    now = ctx.clock.now()
    assignment_repo.serialize_seller(session, seller_id=body.seller_id, currency=body.currency)
    taken = assignment_repo.active_share_bps(session, seller_id=body.seller_id, currency=body.currency)
    if taken + body.share_bps > 10_000:
        raise Conflict(
            f"seller {body.seller_id!r} has already assigned {taken} bps of {body.currency} releases; "
            f"{body.share_bps} more would exceed 10000", current_state="fully_assigned",
            assigned_bps=taken,
        )
    ensure_accounts(session, refs=[lender_account(lender_id=body.lender_id, currency=body.currency)], now=now)
    row = AssignmentRow(
        id=str(uuid.uuid4()), seller_id=body.seller_id, lender_id=body.lender_id, currency=body.currency,
        share_bps=body.share_bps, cap_minor=body.cap_minor, swept_minor=0, loan_ref=body.loan_ref,
        status="active", created_at=now, updated_at=now,
    )
    session.add(row)
    session.flush()
    data = body.model_dump() | {"assignment_id": row.id}
    emit_event(session, ctx.tables, topic="assignment.created", subject=f"assignment:{row.id}", data=data,
               now=now, owner=None)
    audit_at_commit(session, ctx, actor=actor, action="assignment.created", subject=f"assignment:{row.id}",
                    payload=data)
    return assignment_out(row)


def read_assignment(session: Session, assignment_id: str) -> AssignmentOut:
    """An assignment by id."""
    row = assignment_repo.get_assignment(session, assignment_id)
    if row is None:
        raise NotFound(f"assignment {assignment_id} not found")
    return assignment_out(row)
