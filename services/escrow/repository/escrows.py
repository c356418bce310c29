"""SQL of escrows, their lots and timelines (lock order: see ``repository.ledger``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.escrow.models import EscrowRow, LotRow, PaymentRow, TimelineRow
from shared.crypto import canonical_json


class DuplicateOrderRef(Exception):
    """An escrow for this marketplace and order reference exists already."""


def add_escrow(session: Session, escrow: EscrowRow, lots: list[LotRow]) -> None:
    """Insert an escrow and its lots; ``DuplicateOrderRef`` when the order has one already."""
    taken = session.execute(
        select(EscrowRow.id).where(EscrowRow.owner == escrow.owner, EscrowRow.order_ref == escrow.order_ref)
    ).first()
    if taken is not None:
        raise DuplicateOrderRef(str(taken.id))
    try:
        with session.begin_nested():
            session.add(escrow)
            session.flush()
    except IntegrityError as exc:  # a concurrent request created the same order first
        raise DuplicateOrderRef(escrow.order_ref) from exc
    session.add_all(lots)
    session.flush()


def lock_escrow(session: Session, escrow_id: str) -> EscrowRow | None:
    """The escrow row, locked for this transaction (``SELECT ... FOR UPDATE``)."""
    return session.execute(
        select(EscrowRow)
        .where(EscrowRow.id == escrow_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def get_escrow(session: Session, escrow_id: str) -> EscrowRow | None:
    """The escrow row, unlocked."""
    return session.get(EscrowRow, escrow_id)


def lots_of(session: Session, escrow_id: str) -> list[LotRow]:
    """The escrow's lots in their order (guarded by the escrow row's lock)."""
    return list(
        session.execute(
            select(LotRow).where(LotRow.escrow_id == escrow_id).order_by(LotRow.position)
        ).scalars()
    )


@dataclass(frozen=True, slots=True)
class EscrowFilter:
    """What a listing of escrows keeps (``owner`` None: every marketplace's)."""

    owner: str | None = None
    order_ref: str | None = None
    status: str | None = None
    seller_id: str | None = None
    created_from: datetime | None = None
    """Inclusive."""
    created_to: datetime | None = None
    """Exclusive."""


def escrow_listing(where: EscrowFilter, *, limit: int, offset: int = 0) -> Select[EscrowRow]:
    """The listing's query: newest first, one index scan (owner, created_at, id) or (created_at, id)."""
    query = (
        select(EscrowRow)
        .order_by(EscrowRow.created_at.desc(), EscrowRow.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if where.owner is not None:
        query = query.where(EscrowRow.owner == where.owner)
    if where.order_ref is not None:
        query = query.where(EscrowRow.order_ref == where.order_ref)
    if where.status is not None:
        query = query.where(EscrowRow.status == where.status)
    if where.seller_id is not None:
        query = query.where(EscrowRow.seller_id == where.seller_id)
    if where.created_from is not None:
        query = query.where(EscrowRow.created_at >= where.created_from)
    if where.created_to is not None:
        query = query.where(EscrowRow.created_at < where.created_to)
    return query


def list_escrows(session: Session, *, where: EscrowFilter, limit: int, offset: int = 0) -> list[EscrowRow]:
    """Escrows, newest first, filtered."""
    return list(session.execute(escrow_listing(where, limit=limit, offset=offset)).scalars())


def add_timeline(
    session: Session,
    *,
    escrow_id: str,
    event: str,
    actor: str,
    now: datetime,
    lot_ref: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Append one item to an escrow's timeline."""
    session.add(
        TimelineRow(
            escrow_id=escrow_id,
            lot_ref=lot_ref,
            event=event,
            actor=actor,
            data=canonical_json(data or {}),
            created_at=now,
        )
    )


def timeline_of(session: Session, escrow_id: str) -> list[tuple[TimelineRow, dict[str, Any]]]:
    """An escrow's timeline, oldest first, with each item's data decoded."""
    rows = session.execute(
        select(TimelineRow).where(TimelineRow.escrow_id == escrow_id).order_by(TimelineRow.id)
    ).scalars()
    return [(row, json.loads(row.data)) for row in rows]


def claim_expirable(session: Session, *, now: datetime) -> str | None:
    """One unfunded escrow past its funding deadline, locked; rows others hold are skipped."""
    return session.execute(
        select(EscrowRow.id)
        .where(EscrowRow.status == "created", EscrowRow.funding_deadline <= now)
        .order_by(EscrowRow.funding_deadline)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()


def claim_inspection_over(session: Session, *, now: datetime) -> str | None:
    """One escrow with a delivered lot whose inspection is over, locked (skip locked)."""
    return session.execute(
        select(EscrowRow.id)
        .join(LotRow, LotRow.escrow_id == EscrowRow.id)
        .where(LotRow.status == "delivered", LotRow.inspection_ends_at <= now)
        .order_by(LotRow.inspection_ends_at)
        .limit(1)
        .with_for_update(of=EscrowRow, skip_locked=True)
    ).scalar_one_or_none()


def claim_escrow_with_payment(session: Session, *, provider: str, before: datetime) -> str | None:
    """One escrow with a payment pending at ``provider`` since ``before``, locked (skip locked)."""
    return session.execute(
        select(EscrowRow.id)
        .join(PaymentRow, PaymentRow.escrow_id == EscrowRow.id)
        .where(
            PaymentRow.status == "pending", PaymentRow.provider == provider, PaymentRow.created_at <= before
        )
        .order_by(PaymentRow.created_at)
        .limit(1)
        .with_for_update(of=EscrowRow, skip_locked=True)
    ).scalar_one_or_none()
