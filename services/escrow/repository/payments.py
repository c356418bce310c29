"""SQL of provider payments (money in) and payouts (money out)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.escrow.models import PaymentRow, PayoutRow


def pending_payment(session: Session, escrow_id: str) -> PaymentRow | None:
    """The escrow's payment still pending at its provider, if any."""
    return session.execute(
        select(PaymentRow)
        .where(PaymentRow.escrow_id == escrow_id, PaymentRow.status == "pending")
        .order_by(PaymentRow.created_at)
        .limit(1)
    ).scalar_one_or_none()


def pending_payments_of(session: Session, *, escrow_id: str, provider: str) -> list[PaymentRow]:
    """An escrow's payments still pending at ``provider``."""
    return list(
        session.execute(
            select(PaymentRow)
            .where(
                PaymentRow.escrow_id == escrow_id,
                PaymentRow.provider == provider,
                PaymentRow.status == "pending",
            )
            .order_by(PaymentRow.created_at)
        ).scalars()
    )


def get_payout(session: Session, payout_id: str) -> PayoutRow | None:
    """A payout by our id (unlocked)."""
    return session.get(PayoutRow, payout_id)


def find_payout(session: Session, *, provider: str, provider_ref: str) -> PayoutRow | None:
    """A payout by the provider's reference (unlocked)."""
    return session.execute(
        select(PayoutRow).where(PayoutRow.provider == provider, PayoutRow.provider_ref == provider_ref)
    ).scalar_one_or_none()


def lock_payout(session: Session, payout_id: str) -> PayoutRow:
    """A payout row, locked."""
    return session.execute(
        select(PayoutRow)
        .where(PayoutRow.id == payout_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def list_payouts(
    session: Session,
    *,
    payee_kind: str | None,
    payee_id: str | None,
    status: str | None,
    limit: int,
    offset: int = 0,
) -> list[PayoutRow]:
    """Payouts, newest first, filtered."""
    query = select(PayoutRow).order_by(PayoutRow.created_at.desc(), PayoutRow.id).limit(limit).offset(offset)
    if payee_kind is not None:
        query = query.where(PayoutRow.payee_kind == payee_kind)
    if payee_id is not None:
        query = query.where(PayoutRow.payee_id == payee_id)
    if status is not None:
        query = query.where(PayoutRow.status == status)
    return list(session.execute(query).scalars())


def claim_pending_payout(session: Session, *, provider: str, before: datetime) -> str | None:
    """One payout pending at ``provider`` since ``before``, locked (others' rows skipped)."""
    return session.execute(
        select(PayoutRow.id)
        .where(PayoutRow.status == "pending", PayoutRow.provider == provider, PayoutRow.created_at <= before)
        .order_by(PayoutRow.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
