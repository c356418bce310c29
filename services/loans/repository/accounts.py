"""SQL for loan accounts: the loan row (locked for changes), its schedule, transactions and
allocations, the columns a replayed projection writes back, and the same rows for many loans
at once (close of business, reports)."""

from __future__ import annotations

import functools
import json
from collections import defaultdict, namedtuple
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Result, Table, select
from sqlalchemy.orm import Session

from services.loans.domain import Allocation as DomainAllocation
from services.loans.domain.projection import InstallmentProjection, Projection
from services.loans.models import Allocation, Installment, Loan, LoanTransaction

LOANS: Table = Loan.__table__  # type: ignore[assignment]
INSTALLMENTS: Table = Installment.__table__  # type: ignore[assignment]
TRANSACTIONS: Table = LoanTransaction.__table__  # type: ignore[assignment]
ALLOCATIONS: Table = Allocation.__table__  # type: ignore[assignment]

LOAN_VIEW_COLUMNS = (
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
"""The loan columns set-based work (close of business, reports) reads."""


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
    for name, value in loan_columns(projection).items():
        setattr(loan, name, value)
    by_number = {p.number: p for p in projection.installments}
    for row in installments:
        for name, value in installment_columns(by_number[row.number]).items():
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


def loan_columns(projection: Projection) -> dict[str, Any]:
    """The ``loans`` columns a replayed projection sets."""
    return {
        "principal_outstanding_minor": projection.outstanding.principal_minor,
        "interest_outstanding_minor": projection.outstanding.interest_minor,
        "fee_outstanding_minor": projection.outstanding.fee_minor,
        "penalty_outstanding_minor": projection.outstanding.penalty_minor,
        "credit_balance_minor": projection.credit_balance_minor,
        "interest_accrued_minor": projection.interest_accrued_minor,
        "days_past_due": projection.days_past_due,
        "delinquency_bucket": projection.bucket.value,
        "state_as_of": projection.as_of,
        "written_off_on": projection.written_off_on,
        "closed_on": projection.closed_on,
    }


def installment_columns(item: InstallmentProjection) -> dict[str, Any]:
    """The replayed columns of one ``loan_installments`` row."""
    return {
        "penalty_charged_minor": item.penalty_charged_minor,
        "paid_principal_minor": item.paid.principal_minor,
        "paid_interest_minor": item.paid.interest_minor,
        "paid_fee_minor": item.paid.fee_minor,
        "paid_penalty_minor": item.paid.penalty_minor,
        "settled_on": item.settled_on,
        "overdue": item.overdue,
    }


def allocation_columns(allocation: DomainAllocation) -> dict[str, Any]:
    """The ``loan_allocations`` columns of one allocation (``by_installment`` as JSON)."""
    return {
        "penalty_minor": allocation.allocated.penalty_minor,
        "fee_minor": allocation.allocated.fee_minor,
        "interest_minor": allocation.allocated.interest_minor,
        "principal_minor": allocation.allocated.principal_minor,
        "overpayment_minor": allocation.overpayment_minor,
        "recovery_minor": allocation.recovery_minor,
        "by_installment": json.dumps(
            [
                {
                    "installment": n,
                    "penalty_minor": c.penalty_minor,
                    "fee_minor": c.fee_minor,
                    "interest_minor": c.interest_minor,
                    "principal_minor": c.principal_minor,
                }
                for n, c in allocation.by_installment
            ],
            separators=(",", ":"),
        ),
    }


@functools.cache
def _record_type(fields: tuple[str, ...]) -> Any:
    return namedtuple("Record", fields)  # the fields are the query's columns


def records(result: Result[Any]) -> list[Any]:
    """A result's rows as named tuples: a replay reads every column of every row by name, and a
    named tuple's attribute costs a tenth of a ``Row``'s."""
    make = _record_type(tuple(result.keys()))._make
    return [make(row) for row in result.all()]


def _grouped(rows: Iterable[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        out[row.loan_id].append(row)
    return out


def installments_of_many(session: Session, ids: Sequence[str]) -> dict[str, list[Any]]:
    """Installment rows of ``ids`` by loan, in number order (named tuples)."""
    if not ids:
        return {}
    query = (
        select(INSTALLMENTS)
        .where(INSTALLMENTS.c.loan_id.in_(ids))
        .order_by(INSTALLMENTS.c.loan_id, INSTALLMENTS.c.number)
    )
    return _grouped(records(session.execute(query)))


def transactions_of_many(session: Session, ids: Sequence[str]) -> dict[str, list[Any]]:
    """Transaction rows of ``ids`` by loan, in sequence order (named tuples)."""
    if not ids:
        return {}
    query = (
        select(TRANSACTIONS)
        .where(TRANSACTIONS.c.loan_id.in_(ids))
        .order_by(TRANSACTIONS.c.loan_id, TRANSACTIONS.c.sequence)
    )
    return _grouped(records(session.execute(query)))
