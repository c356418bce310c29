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

Refunds (``refund_sweep``): a sweep that over-paid its loan (it raced the final repayment;
loans refuses the surplus as ``loan.sweep_refused``) goes back to the seller, in any
status: Dr lender_receivable, Cr seller_payable. The refund locks the assignment's row like
the close and a sweeping release, so ``refunded_minor`` never passes ``swept_minor``; it is
refused when the lender's receivable no longer holds the money (paid out). One refund per
(assignment, reference): the same reference and amount again answers the first refund.
Events: ``assignment.created``, ``assignment.closed``, ``assignment.refunded`` here;
``assignment.swept`` from ``transitions``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.escrow.domain.assignment import SweepRefundRefused, check_sweep_refund
from services.escrow.domain.postings import lender_account, seller_payable_account, sweep_refund_entry
from services.escrow.models import AssignmentRefundRow, AssignmentRow
from services.escrow.presenters import assignment_out, assignment_sweeps_out, refund_out
from services.escrow.repository import assignments as assignment_repo
from services.escrow.repository.ledger import ensure_accounts, find_accounts, lock_accounts, post_entries
from services.escrow.schemas import (
    AssignmentIn,
    AssignmentList,
    AssignmentOut,
    AssignmentRefundIn,
    AssignmentRefundOut,
    AssignmentSweeps,
)
from services.escrow.service.errors import domain_errors
from services.escrow.service.transitions import entry_legs
from services.escrow.settings import EscrowContext
from shared.changes import new_id, record_change
from shared.errors import Conflict, NotFound, ValidationProblem
from shared.money import Money

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
        refunded_minor=0,
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


def refund_sweep(
    session: Session, ctx: EscrowContext, *, actor: str, assignment_id: str, body: AssignmentRefundIn
) -> tuple[AssignmentRefundOut, bool]:
    """Refund swept money to the seller; True when made now, False when ``reference`` had it already."""
    row = assignment_repo.lock_assignment(session, assignment_id)
    if row is None:
        raise NotFound(f"assignment {assignment_id} not found")
    existing = assignment_repo.find_refund(session, assignment_id=row.id, reference=body.reference)
    if existing is not None:
        if existing.amount_minor != body.amount_minor:
            raise Conflict(
                f"refund {body.reference!r} of assignment {row.id} is {existing.amount_minor} "
                f"{existing.currency}, not {body.amount_minor}; a new refund needs a new reference",
                current_state="reference_used",
                amount_minor=existing.amount_minor,
            )
        return refund_out(existing), False
    now = ctx.clock.now()
    amount = Money(body.amount_minor, row.currency)
    lender = lender_account(lender_id=row.lender_id, currency=row.currency)
    seller = seller_payable_account(seller_id=row.seller_id, currency=row.currency)
    ensure_accounts(session, refs=[lender, seller], now=now)
    stored = find_accounts(session, [lender, seller])
    held = lock_accounts(session, stored, [lender])[lender]
    try:
        check_sweep_refund(
            assignment_id=row.id,
            lender_id=row.lender_id,
            amount=amount,
            swept=Money(row.swept_minor, row.currency),
            refunded=Money(row.refunded_minor, row.currency),
            lender_owed=stored[lender].account.normal_balance(held),
        )
    except SweepRefundRefused as exc:
        raise Conflict(
            str(exc), current_state=exc.current_state, available_minor=exc.available.minor
        ) from exc
    entry = sweep_refund_entry(
        assignment_id=row.id,
        lender_id=row.lender_id,
        seller_id=row.seller_id,
        amount=amount,
        ref=f"assignment:{row.id}:refund:{body.reference}",
    )
    with domain_errors():
        post_entries(session, entries=[entry], escrow_id=None, now=now)
    row.refunded_minor += amount.minor
    row.updated_at = now
    refund = AssignmentRefundRow(
        assignment_id=row.id,
        reference=body.reference,
        reason=body.reason,
        currency=row.currency,
        amount_minor=amount.minor,
        entry_ref=entry.ref,
        created_by=actor,
        created_at=now,
    )
    session.add(refund)
    session.flush()
    data = {
        "assignment_id": row.id,
        "refund_id": refund.id,
        "reference": refund.reference,
        "reason": refund.reason,
        "loan_ref": row.loan_ref,
        "seller_id": row.seller_id,
        "lender_id": row.lender_id,
        "currency": row.currency,
        "amount_minor": amount.minor,
        "swept_minor": row.swept_minor,
        "refunded_minor": row.refunded_minor,
        "entry_ref": entry.ref,
    }
    record_change(
        session,
        ctx,
        actor=actor,
        action="assignment.refunded",
        subject=f"assignment:{row.id}",
        payload=data,
        audit_payload={**data, "legs": entry_legs(entry)},
    )
    return refund_out(refund), True


def assignment_sweeps(session: Session, assignment_id: str) -> AssignmentSweeps:
    """An assignment's sweeps (with their event ids) and refunds, oldest first."""
    row = assignment_repo.get_assignment(session, assignment_id)
    if row is None:
        raise NotFound(f"assignment {assignment_id} not found")
    return assignment_sweeps_out(
        row, assignment_repo.sweeps_of(session, row.id), assignment_repo.refunds_of(session, row.id)
    )


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
