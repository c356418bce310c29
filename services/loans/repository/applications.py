"""SQL for loan applications."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import literal, select
from sqlalchemy.orm import Session

from services.loans.domain.lifecycle import ApplicationStatus
from services.loans.models import Application, Borrower, Product


def product_and_borrower(
    session: Session, product_id: str, borrower_id: str
) -> tuple[Product | None, Borrower | None]:
    """The product and the borrower an application names, in one statement (either may be None)."""
    one = select(literal(1).label("one")).subquery()
    query = (
        select(Product, Borrower)
        .select_from(one)
        .outerjoin(Product, Product.id == product_id)
        .outerjoin(Borrower, Borrower.id == borrower_id)
    )
    product, borrower = session.execute(query).one()
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
