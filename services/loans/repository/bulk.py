"""SQL over many loans at once, for close of business and the portfolio.

Reads are one statement per chunk (``IN`` over the chunk's ids); writes are executemany
(psycopg pipelines them) or multi-row inserts. Loans are locked in id order, so two
chunked jobs never deadlock on each other, and a single-loan request (which locks one
loan) never waits in a cycle with them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Table, and_, bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from services.loans.models import Allocation, Installment, Loan, LoanTransaction

LOANS: Table = Loan.__table__  # type: ignore[assignment]
INSTALLMENTS: Table = Installment.__table__  # type: ignore[assignment]
TRANSACTIONS: Table = LoanTransaction.__table__  # type: ignore[assignment]
ALLOCATIONS: Table = Allocation.__table__  # type: ignore[assignment]

COB_LOAN_COLUMNS = (
    "id",
    "status",
    "currency",
    "product_id",
    "terms",
    "principal_minor",
    "annual_interest_rate",
    "disbursed_on",
    "disbursement_fees_minor",
    "next_sequence",
    "cob_dirty",
    "last_transaction_on",
    "days_past_due",
    "delinquency_bucket",
)


def active_loan_ids(session: Session, *, as_of: date, after: str | None, limit: int) -> list[str]:
    """The next ``limit`` ids (in id order) of loans active and disbursed by ``as_of``."""
    query = select(LOANS.c.id).where(LOANS.c.status == "active", LOANS.c.disbursed_on <= as_of)
    if after is not None:
        query = query.where(LOANS.c.id > after)
    return list(session.scalars(query.order_by(LOANS.c.id).limit(limit)).all())


def lock_loans(session: Session, ids: Sequence[str], *, lock: bool) -> list[Any]:
    """The COB view of ``ids`` (sorted), locked in id order when ``lock``; still-active ones only.

    A range over the chunk's first and last id, not ``IN`` over 2,000 parameters: cheaper to
    plan, and the chunk's ids are exactly the active loans in that range.
    """
    query = (
        select(*(LOANS.c[name] for name in COB_LOAN_COLUMNS))
        .where(LOANS.c.id.between(ids[0], ids[-1]), LOANS.c.status == "active")
        .order_by(LOANS.c.id)
    )
    if lock:
        query = query.with_for_update()
    wanted = set(ids)
    return [row for row in session.execute(query).all() if row.id in wanted]


def lock_loans_view(session: Session, ids: Sequence[str]) -> list[Any]:
    """The COB view of ``ids`` whatever their status, without locking (for reports)."""
    query = select(*(LOANS.c[name] for name in COB_LOAN_COLUMNS)).where(LOANS.c.id.in_(ids))
    return list(session.execute(query).all())


def loans_with_overdue_installments(session: Session, ids: Sequence[str], *, as_of: date) -> set[str]:
    """Those of ``ids`` (sorted) with an installment due before ``as_of`` and not settled."""
    query = (
        select(INSTALLMENTS.c.loan_id)
        .distinct()
        .where(
            INSTALLMENTS.c.loan_id.between(ids[0], ids[-1]),
            INSTALLMENTS.c.due_date < as_of,
            INSTALLMENTS.c.settled_on.is_(None),
        )
    )
    return set(session.scalars(query).all()) & set(ids)


def _grouped(rows: Iterable[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        out[row.loan_id].append(row)
    return out


def installments_of_many(session: Session, ids: Sequence[str]) -> dict[str, list[Any]]:
    """Installment rows of ``ids`` by loan, in number order."""
    if not ids:
        return {}
    query = (
        select(INSTALLMENTS)
        .where(INSTALLMENTS.c.loan_id.in_(ids))
        .order_by(INSTALLMENTS.c.loan_id, INSTALLMENTS.c.number)
    )
    return _grouped(session.execute(query).all())


def transactions_of_many(session: Session, ids: Sequence[str]) -> dict[str, list[Any]]:
    """Transaction rows of ``ids`` by loan, in sequence order."""
    if not ids:
        return {}
    query = (
        select(TRANSACTIONS)
        .where(TRANSACTIONS.c.loan_id.in_(ids))
        .order_by(TRANSACTIONS.c.loan_id, TRANSACTIONS.c.sequence)
    )
    return _grouped(session.execute(query).all())


def accrual_inputs(session: Session, ids: Sequence[str], *, as_of: date) -> dict[str, tuple[int, Any | None]]:
    """Per loan of ``ids`` (sorted): interest of installments due by ``as_of`` and the one running on it."""
    if not ids:
        return {}
    inst = INSTALLMENTS.c
    due_by_loan = (
        select(inst.loan_id, func.sum(case((inst.due_date <= as_of, inst.interest_minor), else_=0)))
        .where(inst.loan_id.between(ids[0], ids[-1]), inst.from_date <= as_of)
        .group_by(inst.loan_id)
    )
    due: dict[str, int] = {row[0]: int(row[1] or 0) for row in session.execute(due_by_loan).all()}
    current = {
        row.loan_id: row
        for row in session.execute(
            select(inst.loan_id, inst.from_date, inst.due_date, inst.interest_minor).where(
                inst.loan_id.between(ids[0], ids[-1]), inst.from_date <= as_of, inst.due_date > as_of
            )
        ).all()
    }
    return {loan_id: (int(due.get(loan_id) or 0), current.get(loan_id)) for loan_id in ids}


def update_loans(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """executemany UPDATE of loans; every dict has ``b_id`` and the same other keys."""
    if not rows:
        return
    columns = [k for k in rows[0] if k != "b_id"]
    statement = (
        update(LOANS)
        .where(LOANS.c.id == bindparam("b_id"))
        .values({name: bindparam(name) for name in columns})
    )
    session.connection().execute(statement, list(rows))


def update_installments(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """executemany UPDATE of installment projections keyed by ``b_loan_id`` and ``b_number``."""
    if not rows:
        return
    columns = [k for k in rows[0] if not k.startswith("b_")]
    statement = (
        update(INSTALLMENTS)
        .where(
            and_(
                INSTALLMENTS.c.loan_id == bindparam("b_loan_id"),
                INSTALLMENTS.c.number == bindparam("b_number"),
            )
        )
        .values({name: bindparam(name) for name in columns})
    )
    session.connection().execute(statement, list(rows))


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Multi-row INSERT."""
    if rows:
        session.execute(insert(table), list(rows))


def replace_allocations(session: Session, loan_ids: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """Drop the allocations of ``loan_ids`` and store ``rows`` instead."""
    if loan_ids:
        session.execute(delete(ALLOCATIONS).where(ALLOCATIONS.c.loan_id.in_(loan_ids)))
    insert_rows(session, ALLOCATIONS, rows)


def par_loans(session: Session, *, as_of: date) -> list[Any]:
    """Loans that could have had principal outstanding on ``as_of`` (with their stored snapshot)."""
    c = LOANS.c
    query = (
        select(
            c.id,
            c.product_id,
            c.currency,
            c.state_as_of,
            c.principal_outstanding_minor,
            c.days_past_due,
        )
        .where(
            c.disbursed_on <= as_of,
            or_(c.status == "active", c.closed_on > as_of, c.written_off_on > as_of),
        )
        .order_by(c.id)
    )
    return list(session.execute(query).all())
