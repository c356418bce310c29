"""Routes: loans, disbursement, repayments, reversals, write-off, schedule and transactions."""

from __future__ import annotations

import json
from datetime import date

from fastapi import Query, Response
from sqlalchemy.orm import Session

from services.loans.api.deps import Collector, Manager, Reader
from services.loans.api.schemas_loans import (
    AllocationOut,
    DisburseIn,
    InstallmentOut,
    LoanOut,
    LoanScheduleOut,
    OutstandingOut,
    RepaymentIn,
    ReverseIn,
    TransactionOut,
)
from services.loans.models import Allocation, Installment, Loan, LoanTransaction
from services.loans.projection import Projection
from services.loans.repository import accounts as repo
from services.loans.service import accounts as service
from services.loans.service import adjustments
from shared.api import ContextDep, SessionDep, service_router
from shared.platform import ServiceContext

router = service_router(prefix="/v1", tags=["loans"])

__all__ = ["LoanOut", "loan_out", "router"]


def loan_out(session: Session, ctx: ServiceContext, loan: Loan, *, live: bool = True) -> LoanOut:
    """The API view of a loan; ``live`` replays a disbursed loan as of the business date."""
    projection: Projection | None = None
    as_of: date | None
    if live and loan.disbursed_on is not None:
        projection = service.live_projection(session, ctx, loan)
    if projection is not None:
        o = projection.outstanding
        outstanding = OutstandingOut(
            principal_minor=o.principal_minor,
            interest_minor=o.interest_minor,
            fee_minor=o.fee_minor,
            penalty_minor=o.penalty_minor,
            total_minor=o.total_minor,
        )
        credit, accrued = projection.credit_balance_minor, projection.interest_accrued_minor
        dpd, bucket, as_of = projection.days_past_due, projection.bucket.value, projection.as_of
    else:
        total = (
            loan.principal_outstanding_minor
            + loan.interest_outstanding_minor
            + loan.fee_outstanding_minor
            + loan.penalty_outstanding_minor
        )
        outstanding = OutstandingOut(
            principal_minor=loan.principal_outstanding_minor,
            interest_minor=loan.interest_outstanding_minor,
            fee_minor=loan.fee_outstanding_minor,
            penalty_minor=loan.penalty_outstanding_minor,
            total_minor=total,
        )
        credit, accrued = loan.credit_balance_minor, loan.interest_accrued_minor
        dpd, bucket, as_of = loan.days_past_due, loan.delinquency_bucket, loan.state_as_of
    return LoanOut(
        id=loan.id,
        application_id=loan.application_id,
        product_id=loan.product_id,
        borrower_id=loan.borrower_id,
        status=loan.status,
        currency=loan.currency,
        principal_minor=loan.principal_minor,
        annual_interest_rate=loan.annual_interest_rate,
        number_of_repayments=loan.number_of_repayments,
        disbursed_on=loan.disbursed_on,
        maturity_date=loan.maturity_date,
        disbursement_fees_minor=loan.disbursement_fees_minor,
        outstanding=outstanding,
        credit_balance_minor=credit,
        interest_accrued_minor=accrued,
        days_past_due=dpd,
        delinquency_bucket=bucket,
        as_of=as_of,
        last_cob_date=loan.last_cob_date,
        closed_on=loan.closed_on,
        written_off_on=loan.written_off_on,
        approved_by=loan.approved_by,
    )


def transaction_out(
    txn: LoanTransaction, allocation: Allocation | None, reversed_by: str | None
) -> TransactionOut:
    """The API view of a transaction with its current allocation."""
    alloc = None
    if allocation is not None:
        alloc = AllocationOut(
            penalty_minor=allocation.penalty_minor,
            fee_minor=allocation.fee_minor,
            interest_minor=allocation.interest_minor,
            principal_minor=allocation.principal_minor,
            overpayment_minor=allocation.overpayment_minor,
            recovery_minor=allocation.recovery_minor,
            by_installment=json.loads(allocation.by_installment),
        )
    return TransactionOut(
        id=txn.id,
        loan_id=txn.loan_id,
        sequence=txn.sequence,
        kind=txn.kind,
        date=txn.on_date,
        amount_minor=txn.amount_minor,
        currency=txn.currency,
        external_id=txn.external_id,
        source=txn.source,
        reverses_id=txn.reverses_id,
        reversed_by_id=reversed_by,
        installment_number=txn.installment_number,
        note=txn.note,
        created_by=txn.created_by,
        allocation=alloc,
    )


def _one_transaction(session: Session, txn: LoanTransaction) -> TransactionOut:
    allocation = repo.allocations_of(session, txn.loan_id).get(txn.id)
    reversal = repo.reversal_of(session, txn.loan_id, txn.id)
    return transaction_out(txn, allocation, reversal.id if reversal is not None else None)


@router.get("/loans", response_model=list[LoanOut])
def list_loans(
    ctx: ContextDep,
    session: SessionDep,
    _: Reader,
    status: str | None = Query(default=None, max_length=16),
    borrower_id: str | None = Query(default=None, max_length=36),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> list[LoanOut]:
    """Loans, newest first, with their stored state (as of their last change or COB)."""
    rows = repo.list_loans(session, status=status, borrower_id=borrower_id, limit=limit, offset=offset)
    return [loan_out(session, ctx, loan, live=False) for loan in rows]


@router.get("/loans/{loan_id}", response_model=LoanOut)
def get_loan(loan_id: str, ctx: ContextDep, session: SessionDep, _: Reader) -> LoanOut:
    """A loan: outstanding components, days past due, bucket and status as of the business date."""
    return loan_out(session, ctx, service.require_loan(session, loan_id))


@router.get("/loans/{loan_id}/schedule", response_model=LoanScheduleOut)
def get_schedule(loan_id: str, ctx: ContextDep, session: SessionDep, _: Reader) -> LoanScheduleOut:
    """The loan's fixed schedule with what is paid, outstanding and overdue on each row."""
    loan = service.require_loan(session, loan_id)
    rows = [_installment_out(r) for r in repo.installments_of(session, loan.id)]
    return LoanScheduleOut(
        loan_id=loan.id,
        currency=loan.currency,
        disbursement_fees_minor=loan.disbursement_fees_minor,
        as_of=loan.state_as_of,
        rows=rows,
    )


def _installment_out(row: Installment) -> InstallmentOut:
    due = row.total_minor + row.penalty_charged_minor
    paid = row.paid_principal_minor + row.paid_interest_minor + row.paid_fee_minor + row.paid_penalty_minor
    if due - paid == 0:
        status = "paid"
    elif row.overdue:
        status = "overdue"
    else:
        status = "partially_paid" if paid else "upcoming"
    return InstallmentOut(
        number=row.number,
        from_date=row.from_date,
        due_date=row.due_date,
        principal_minor=row.principal_minor,
        interest_minor=row.interest_minor,
        fee_minor=row.fee_minor,
        penalty_minor=row.penalty_charged_minor,
        total_minor=due,
        balance_minor=row.balance_minor,
        paid_minor=paid,
        outstanding_minor=due - paid,
        settled_on=row.settled_on,
        overdue=row.overdue,
        status=status,
    )


@router.get("/loans/{loan_id}/transactions", response_model=list[TransactionOut])
def list_transactions(loan_id: str, session: SessionDep, _: Reader) -> list[TransactionOut]:
    """Every transaction on the loan in recording order, with current allocations."""
    loan = service.require_loan(session, loan_id)
    txns = repo.transactions_of(session, loan.id)
    allocations = repo.allocations_of(session, loan.id)
    reversed_by = {t.reverses_id: t.id for t in txns if t.kind == "reversal"}
    return [transaction_out(t, allocations.get(t.id), reversed_by.get(t.id)) for t in txns]


@router.post("/loans/{loan_id}/disburse", response_model=LoanOut)
def disburse(loan_id: str, body: DisburseIn, ctx: ContextDep, session: SessionDep, who: Manager) -> LoanOut:
    """Disburse an approved loan: its schedule is fixed and stored; the loan becomes active."""
    loan = service.disburse_loan(session, ctx, who=who, loan_id=loan_id, on=body.date)
    # Disbursing just replayed the account as of the business date and stored it on the loan.
    return loan_out(session, ctx, loan, live=False)


@router.post("/loans/{loan_id}/repayments", status_code=201, response_model=TransactionOut)
def post_repayment(
    loan_id: str, body: RepaymentIn, response: Response, ctx: ContextDep, session: SessionDep, who: Collector
) -> TransactionOut:
    """Post a repayment, allocated in the product's order; the same external_id returns it again."""
    txn, replayed = service.post_repayment(
        session,
        ctx,
        who=who,
        loan_id=loan_id,
        amount_minor=body.amount_minor,
        on=body.date,
        external_id=body.external_id,
        source=body.source,
    )
    if replayed:
        response.status_code = 200
    return _one_transaction(session, txn)


@router.post(
    "/loans/{loan_id}/transactions/{transaction_id}/reverse", status_code=201, response_model=TransactionOut
)
def reverse(
    loan_id: str,
    transaction_id: str,
    ctx: ContextDep,
    session: SessionDep,
    who: Manager,
    body: ReverseIn | None = None,
) -> TransactionOut:
    """Reverse a transaction by adding a reversal (nothing is ever edited)."""
    body = body or ReverseIn()
    txn = adjustments.reverse_transaction(
        session, ctx, who=who, loan_id=loan_id, transaction_id=transaction_id, on=body.date, note=body.note
    )
    return _one_transaction(session, txn)


@router.post("/loans/{loan_id}/write-off", status_code=201, response_model=TransactionOut)
def write_off(
    loan_id: str, ctx: ContextDep, session: SessionDep, who: Manager, body: ReverseIn | None = None
) -> TransactionOut:
    """Write off everything outstanding; later repayments count as recoveries."""
    body = body or ReverseIn()
    txn = adjustments.write_off_loan(session, ctx, who=who, loan_id=loan_id, on=body.date, note=body.note)
    return _one_transaction(session, txn)
