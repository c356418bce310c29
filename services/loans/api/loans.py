"""Routes: loans, disbursement, repayments, reversals, write-off, schedule and transactions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Query, Response

from services.loans.api.deps import Collector, LoansContextDep, Manager, Reader
from services.loans.presenters import loan_out, schedule_out, transaction_out
from services.loans.schemas.loans import (
    DisburseIn,
    LoanOut,
    LoanScheduleOut,
    RepaymentIn,
    ReverseIn,
    TransactionOut,
)
from services.loans.service import accounts as service
from services.loans.service import adjustments
from shared.api import SessionDep, service_router

router = service_router(prefix="/v1", tags=["loans"])


@router.get("/loans", response_model=list[LoanOut])
def list_loans(
    session: SessionDep,
    _: Reader,
    status: str | None = Query(default=None, max_length=16),
    borrower_id: str | None = Query(default=None, max_length=36),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> list[LoanOut]:
    """Loans, newest first, with their stored state (as of their last change or COB)."""
    views = service.list_loans(session, status=status, borrower_id=borrower_id, limit=limit, offset=offset)
    return [loan_out(view) for view in views]


@router.get("/loans/{loan_id}", response_model=LoanOut)
def get_loan(loan_id: str, ctx: LoansContextDep, session: SessionDep, _: Reader) -> LoanOut:
    """A loan as of the business date: outstanding, days past due, bucket, status, allowed actions."""
    return loan_out(service.read_loan(session, ctx, loan_id))


@router.get("/loans/{loan_id}/schedule", response_model=LoanScheduleOut)
def get_schedule(loan_id: str, session: SessionDep, _: Reader) -> LoanScheduleOut:
    """The loan's fixed schedule with what is paid, outstanding and overdue on each row."""
    loan, rows = service.loan_schedule(session, loan_id)
    return schedule_out(loan, list(rows))


@router.get("/loans/{loan_id}/transactions", response_model=list[TransactionOut])
def list_transactions(loan_id: str, session: SessionDep, _: Reader) -> list[TransactionOut]:
    """Every transaction on the loan in recording order, with current allocations."""
    return [transaction_out(view) for view in service.loan_transactions(session, loan_id)]


@router.post("/loans/{loan_id}/disburse", response_model=LoanOut)
def disburse(
    loan_id: str,
    body: DisburseIn,
    ctx: LoansContextDep,
    session: SessionDep,
    who: Manager,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> LoanOut:
    """Disburse an approved loan: its schedule is fixed and stored; the loan becomes active."""
    view = service.disburse_loan(
        session, ctx, who=who, loan_id=loan_id, on=body.date, idempotency_key=idempotency_key
    )
    return loan_out(view)


@router.post("/loans/{loan_id}/repayments", status_code=201, response_model=TransactionOut)
def post_repayment(
    loan_id: str,
    body: RepaymentIn,
    response: Response,
    ctx: LoansContextDep,
    session: SessionDep,
    who: Collector,
) -> TransactionOut:
    """Post a repayment, allocated in the product's order; the same external_id returns it again."""
    view, replayed = service.post_repayment(
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
    return transaction_out(view)


@router.post(
    "/loans/{loan_id}/transactions/{transaction_id}/reverse", status_code=201, response_model=TransactionOut
)
def reverse(
    loan_id: str,
    transaction_id: str,
    ctx: LoansContextDep,
    session: SessionDep,
    who: Manager,
    body: ReverseIn | None = None,
) -> TransactionOut:
    """Reverse a transaction by adding a reversal (nothing is ever edited)."""
    body = body or ReverseIn()
    return transaction_out(
        adjustments.reverse_transaction(
            session,
            ctx,
            who=who,
            loan_id=loan_id,
            transaction_id=transaction_id,
            on=body.date,
            note=body.note,
        )
    )


@router.post("/loans/{loan_id}/write-off", status_code=201, response_model=TransactionOut)
def write_off(
    loan_id: str, ctx: LoansContextDep, session: SessionDep, who: Manager, body: ReverseIn | None = None
) -> TransactionOut:
    """Write off everything outstanding; later repayments count as recoveries."""
    body = body or ReverseIn()
    return transaction_out(
        adjustments.write_off_loan(session, ctx, who=who, loan_id=loan_id, on=body.date, note=body.note)
    )
