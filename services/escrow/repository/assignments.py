"""SQL of assignments of proceeds and their sweeps."""

from __future__ import annotations

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from services.escrow.models import AssignmentRefundRow, AssignmentRow, SweepRow


def serialize_seller(session: Session, *, seller_id: str, currency: str) -> None:
    """Serialise assignment changes of one seller and currency (advisory lock on PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"escrow-assignment:{seller_id}:{currency}"},
        )


def active_share_bps(session: Session, *, seller_id: str, currency: str) -> int:
    """The shares of a seller's assignments in ``currency`` not yet repaid, added up."""
    total = session.execute(
        select(func.coalesce(func.sum(AssignmentRow.share_bps), 0)).where(
            AssignmentRow.seller_id == seller_id,
            AssignmentRow.currency == currency,
            AssignmentRow.status == "active",
        )
    ).scalar_one()
    return int(total)


def lock_active_assignments(session: Session, *, seller_id: str, currency: str) -> list[AssignmentRow]:
    """The seller's active assignments in ``currency``, locked in id order."""
    return list(
        session.execute(
            select(AssignmentRow)
            .where(
                AssignmentRow.seller_id == seller_id,
                AssignmentRow.currency == currency,
                AssignmentRow.status == "active",
            )
            .order_by(AssignmentRow.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalars()
    )


def lock_assignment(session: Session, assignment_id: str) -> AssignmentRow | None:
    """An assignment by id, locked (a release sweeping it holds the same lock)."""
    return session.execute(
        select(AssignmentRow)
        .where(AssignmentRow.id == assignment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def get_assignment(session: Session, assignment_id: str) -> AssignmentRow | None:
    """An assignment by id."""
    return session.get(AssignmentRow, assignment_id)


def list_assignments(
    session: Session,
    *,
    seller_id: str | None,
    loan_ref: str | None,
    limit: int,
    offset: int = 0,
) -> list[AssignmentRow]:
    """Assignments, newest first, filtered."""
    query = (
        select(AssignmentRow)
        .order_by(AssignmentRow.created_at.desc(), AssignmentRow.id)
        .limit(limit)
        .offset(offset)
    )
    if seller_id is not None:
        query = query.where(AssignmentRow.seller_id == seller_id)
    if loan_ref is not None:
        query = query.where(AssignmentRow.loan_ref == loan_ref)
    return list(session.execute(query).scalars())


def find_refund(session: Session, *, assignment_id: str, reference: str) -> AssignmentRefundRow | None:
    """The assignment's refund with ``reference``, if any."""
    return session.execute(
        select(AssignmentRefundRow).where(
            AssignmentRefundRow.assignment_id == assignment_id,
            AssignmentRefundRow.reference == reference,
        )
    ).scalar_one_or_none()


def sweeps_of(session: Session, assignment_id: str) -> list[SweepRow]:
    """The assignment's sweeps, oldest first."""
    return list(
        session.execute(
            select(SweepRow)
            .where(SweepRow.assignment_id == assignment_id)
            .order_by(SweepRow.created_at, SweepRow.id)
        ).scalars()
    )


def refunds_of(session: Session, assignment_id: str) -> list[AssignmentRefundRow]:
    """The assignment's refunds, oldest first."""
    return list(
        session.execute(
            select(AssignmentRefundRow)
            .where(AssignmentRefundRow.assignment_id == assignment_id)
            .order_by(AssignmentRefundRow.created_at, AssignmentRefundRow.id)
        ).scalars()
    )
