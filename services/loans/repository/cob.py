"""SQL of close of business: its runs (one per date), and per chunk of loans the set-based
reads and writes.

Reads are one statement per chunk (``IN`` over the chunk's ids); writes are one statement
per table and chunk on PostgreSQL (``UPDATE ... FROM unnest(arrays)``, ``INSERT ... SELECT
FROM unnest``: ``bulk``), executemany on SQLite. Loans are locked in id order, so two
chunked jobs never deadlock on each other, and a single-loan request (which locks one
loan) never waits in a cycle with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Table, case, delete, func, select
from sqlalchemy.orm import Session

from services.loans.models import CobRun
from services.loans.repository.accounts import (
    ALLOCATIONS,
    INSTALLMENTS,
    LOAN_VIEW_COLUMNS,
    LOANS,
    TRANSACTIONS,
)
from services.loans.repository.bulk import insert_many, update_many


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
        select(*(LOANS.c[name] for name in LOAN_VIEW_COLUMNS))
        .where(LOANS.c.id.between(ids[0], ids[-1]), LOANS.c.status == "active")
        .order_by(LOANS.c.id)
    )
    if lock:
        query = query.with_for_update()
    wanted = set(ids)
    return [row for row in session.execute(query).all() if row.id in wanted]


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


def update_loans(
    session: Session, rows: Sequence[dict[str, Any]], *, same: dict[str, Any] | None = None
) -> None:
    """UPDATE of loans; every dict has ``b_id`` and the same other keys, ``same`` the columns
    every row gets the same value of (one statement on PostgreSQL)."""
    update_many(session, LOANS, {"b_id": "id"}, rows, same=same)


def update_installments(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """UPDATE of installment projections keyed by ``b_loan_id`` and ``b_number``."""
    update_many(session, INSTALLMENTS, {"b_loan_id": "loan_id", "b_number": "number"}, rows)


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Multi-row INSERT (one statement on PostgreSQL)."""
    insert_many(session, table, rows)


def insert_transactions(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Multi-row INSERT of new loan transactions (the penalties a chunk charges)."""
    insert_rows(session, TRANSACTIONS, rows)


def replace_allocations(session: Session, loan_ids: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    """Drop the allocations of ``loan_ids`` and store ``rows`` instead."""
    if loan_ids:
        session.execute(delete(ALLOCATIONS).where(ALLOCATIONS.c.loan_id.in_(loan_ids)))
    insert_rows(session, ALLOCATIONS, rows)


def cob_run_for(session: Session, business_date: date) -> CobRun | None:
    """The COB run of a date, if any."""
    return session.scalars(select(CobRun).where(CobRun.business_date == business_date)).first()


def latest_cob_date(session: Session) -> date | None:
    """The latest date a COB run exists for."""
    value: date | None = session.scalar(select(func.max(CobRun.business_date)))
    return value


def list_cob_runs(session: Session, *, limit: int) -> Sequence[CobRun]:
    """The latest COB runs, newest first."""
    return session.scalars(select(CobRun).order_by(CobRun.business_date.desc()).limit(limit)).all()
