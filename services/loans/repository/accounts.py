"""SQL for one loan at a time: the loan row (locked for changes), its schedule, transactions
and allocations, and writing back a replayed projection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.loans.models import Allocation, Installment, Loan, LoanTransaction
from services.loans.projection import Projection, allocation_columns


def get_loan(session: Session, loan_id: str, *, lock: bool = False) -> Loan | None:
    """A loan by id; ``lock`` takes its row lock so concurrent changes to it serialise."""
    query = select(Loan).where(Loan.id == loan_id)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).first()


def list_loans(
    session: Session,
    *,
    status: str | None,
    borrower_id: str | None,
    limit: int,
    offset: int,
) -> Sequence[Loan]:
    """Loans, newest first, optionally filtered."""
    query = select(Loan).order_by(Loan.created_at.desc(), Loan.id)
    if status is not None:
        query = query.where(Loan.status == status)
    if borrower_id is not None:
        query = query.where(Loan.borrower_id == borrower_id)
    return session.scalars(query.limit(limit).offset(offset)).all()


def installments_of(session: Session, loan_id: str) -> list[Installment]:
    """A loan's schedule rows in installment order."""
    query = select(Installment).where(Installment.loan_id == loan_id).order_by(Installment.number)
    return list(session.scalars(query).all())


def transactions_of(session: Session, loan_id: str) -> list[LoanTransaction]:
    """A loan's transactions in recording order."""
    query = (
        select(LoanTransaction).where(LoanTransaction.loan_id == loan_id).order_by(LoanTransaction.sequence)
    )
    return list(session.scalars(query).all())


def allocations_of(session: Session, loan_id: str) -> dict[str, Allocation]:
    """A loan's stored allocations by transaction id."""
    rows = session.scalars(select(Allocation).where(Allocation.loan_id == loan_id)).all()
    return {row.transaction_id: row for row in rows}


def transaction_by_external_id(session: Session, loan_id: str, external_id: str) -> LoanTransaction | None:
    """The transaction a client recorded under ``external_id`` on this loan."""
    query = select(LoanTransaction).where(
        LoanTransaction.loan_id == loan_id, LoanTransaction.external_id == external_id
    )
    return session.scalars(query).first()


def get_transaction(session: Session, loan_id: str, transaction_id: str) -> LoanTransaction | None:
    """One transaction of one loan."""
    query = select(LoanTransaction).where(
        LoanTransaction.loan_id == loan_id, LoanTransaction.id == transaction_id
    )
    return session.scalars(query).first()


def reversal_of(session: Session, loan_id: str, transaction_id: str) -> LoanTransaction | None:
    """The reversal of one transaction of one loan, if it was reversed."""
    query = select(LoanTransaction).where(
        LoanTransaction.loan_id == loan_id,
        LoanTransaction.kind == "reversal",
        LoanTransaction.reverses_id == transaction_id,
    )
    return session.scalars(query).first()


def save_projection(
    session: Session,
    *,
    loan: Loan,
    installments: Sequence[Installment],
    transactions: Sequence[LoanTransaction],
    projection: Projection,
) -> None:
    """Write a replayed projection onto the loan, its installments and its allocations."""
    for name, value in projection.loan_columns().items():
        setattr(loan, name, value)
    by_number = {p.number: p for p in projection.installments}
    for row in installments:
        for name, value in by_number[row.number].columns().items():
            if getattr(row, name) != value:
                setattr(row, name, value)
    stored = allocations_of(session, loan.id)
    for txn in transactions:
        allocation = projection.allocations.get(txn.sequence) if txn.kind == "repayment" else None
        existing = stored.get(txn.id)
        if allocation is None:
            if existing is not None:
                session.delete(existing)
            continue
        columns = allocation_columns(allocation)
        if existing is None:
            session.add(Allocation(transaction_id=txn.id, loan_id=loan.id, **columns))
        else:
            for name, value in columns.items():
                if getattr(existing, name) != value:
                    setattr(existing, name, value)
    session.flush()


def next_sequences(loan: Loan, count: int) -> list[int]:
    """Reserve ``count`` transaction sequences on a locked loan."""
    first = loan.next_sequence
    loan.next_sequence = first + count
    return list(range(first, first + count))


def latest_date(current: date | None, candidate: date) -> date:
    """The later of a stored date (maybe unset) and a new one."""
    return candidate if current is None or candidate > current else current
