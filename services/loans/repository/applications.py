"""SQL for loan applications."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, literal, select
from sqlalchemy.orm import Session

from services.loans.domain.lifecycle import ApplicationStatus
from services.loans.models import Application, Borrower, Product
from services.loans.repository.products import (
    PRODUCT_ROW_COLUMNS,
    ProductRow,
    known_product,
    product_row,
    saw_product,
)


@dataclass(frozen=True, slots=True)
class BorrowerRow:
    """What filling and scoring need to know of an application's borrower."""

    type: str
    marketplace_party_id: str | None


_b, _p = Borrower.__table__, Product.__table__
_BORROWER_COLUMNS = (_b.c.id, _b.c.type, _b.c.marketplace_party_id)
_BORROWER = select(*_BORROWER_COLUMNS).where(_b.c.id == bindparam("borrower_id"))
_one = select(literal(1).label("one")).subquery()
_PRODUCT_AND_BORROWER = (
    select(*PRODUCT_ROW_COLUMNS, *_BORROWER_COLUMNS)
    .select_from(_one)
    .outerjoin(_p, _p.c.id == bindparam("product_id"))
    .outerjoin(_b, _b.c.id == bindparam("borrower_id"))
)
"""Built once (a statement built per request costs more than its execution)."""


def product_and_borrower(
    session: Session, product_id: str, borrower_id: str
) -> tuple[ProductRow | None, BorrowerRow | None]:
    """The product and the borrower an application names, in one statement (either may be None);
    the borrower alone when this process knows the product already (products never change)."""
    conn = session.connection()
    product = known_product(session, product_id)
    if product is not None:
        alone = conn.execute(_BORROWER, {"borrower_id": borrower_id}).first()
        return product, None if alone is None else BorrowerRow(alone[1], alone[2])
    row = conn.execute(_PRODUCT_AND_BORROWER, {"product_id": product_id, "borrower_id": borrower_id}).one()
    width = len(PRODUCT_ROW_COLUMNS)
    if row[0] is not None:
        product = product_row(row)
        saw_product(session, product)
    borrower = None if row[width] is None else BorrowerRow(row[width + 1], row[width + 2])
    return product, borrower


def get_application(session: Session, application_id: str, *, lock: bool = False) -> Application | None:
    """An application by id; ``lock`` takes its row lock (PostgreSQL) for a state change."""
    query = select(Application).where(Application.id == application_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def list_applications(
    session: Session,
    *,
    status: str | None = None,
    borrower_id: str | None = None,
    product_id: str | None = None,
    decision_hint: str | None = None,
    grade: str | None = None,
    submitted_from: datetime | None = None,
    submitted_to: datetime | None = None,
    oldest_first: bool = False,
    limit: int,
    offset: int,
) -> Sequence[Application]:
    """Applications newest (or oldest) first, filtered; ``submitted_from <= submitted_at < submitted_to``.

    Ordered by (submitted_at, id) both one way, so the (status, submitted_at, id) index
    serves a status's page without sorting the queue.
    """
    if oldest_first:
        query = select(Application).order_by(Application.submitted_at, Application.id)
    else:
        query = select(Application).order_by(Application.submitted_at.desc(), Application.id.desc())
    equal = (
        (Application.status, status),
        (Application.borrower_id, borrower_id),
        (Application.product_id, product_id),
        (Application.decision_hint, decision_hint),
        (Application.grade, grade),
    )
    for column, value in equal:
        if value is not None:
            query = query.where(column == value)
    if submitted_from is not None:
        query = query.where(Application.submitted_at >= submitted_from)
    if submitted_to is not None:
        query = query.where(Application.submitted_at < submitted_to)
    return session.scalars(query.limit(limit).offset(offset)).all()


def due_for_scoring(session: Session, *, now: datetime, limit: int) -> list[str]:
    """Ids of ``pending_score`` applications whose next scoring attempt is due."""
    query = (
        select(Application.id)
        .where(
            Application.status == ApplicationStatus.PENDING_SCORE.value,
            Application.next_score_attempt_at <= now,
        )
        .order_by(Application.next_score_attempt_at, Application.id)
        .limit(limit)
    )
    return list(session.scalars(query).all())
