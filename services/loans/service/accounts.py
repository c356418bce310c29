"""Use cases on a loan account: disburse, repay, reverse, write off, and read its state.

Every change locks the loan row first (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
writers are serialised anyway), appends an immutable transaction, replays the whole account
with the domain (so a back-dated repayment re-allocates everything after it) and writes the
projection back: loan balances and arrears, installment paid/overdue state, allocations.
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from services.loans.domain import LoanAccount, build_schedule
from services.loans.models import Installment, Loan, LoanTransaction
from services.loans.projection import Projection, account_from_rows, project
from services.loans.repository import accounts as repo
from services.loans.repository import catalog
from services.loans.service.common import (
    business_date,
    check_not_after_business_date,
    domain_problem,
    new_id,
    record_change,
)
from services.loans.terms_codec import load_terms
from shared.auth import Principal, Role
from shared.crypto import canonical_json
from shared.errors import Conflict, Forbidden, NotFound, ValidationProblem
from shared.platform import ServiceContext

# A write-off announces itself (``loan.written_off`` from ``write_off_loan``, with its amounts).
_STATUS_EVENTS = {"closed": "loan.closed", "overpaid": "loan.overpaid"}


def require_loan(session: Session, loan_id: str, *, lock: bool = False) -> Loan:
    """A loan or 404."""
    loan = repo.get_loan(session, loan_id, lock=lock)
    if loan is None:
        raise NotFound(f"loan {loan_id} not found")
    return loan


def account_of(
    loan: Loan, installments: list[Installment], transactions: list[LoanTransaction]
) -> LoanAccount:
    """The domain account of a disbursed loan."""
    return account_from_rows(
        loan, terms=load_terms(loan.terms), installments=installments, transactions=transactions
    )


def live_projection(
    session: Session, ctx: ServiceContext, loan: Loan, as_of: date | None = None
) -> Projection:
    """The account replayed now (as of the business date unless told otherwise)."""
    account = account_of(loan, repo.installments_of(session, loan.id), repo.transactions_of(session, loan.id))
    return project(account, as_of=as_of or business_date(session, ctx))


def recompute_loan(session: Session, ctx: ServiceContext, loan: Loan, *, actor: str) -> Projection:
    installments = repo.installments_of(session, loan.id)
    transactions = repo.transactions_of(session, loan.id)
    try:
        account = account_of(loan, installments, transactions)
    except ValueError as exc:
        raise domain_problem(exc) from None
    projection = project(account, as_of=business_date(session, ctx))
    before = loan.status
    repo.save_projection(
        session, loan=loan, installments=installments, transactions=transactions, projection=projection
    )
    loan.status = projection.status.value
    loan.cob_dirty = True
    loan.updated_at = ctx.clock.now()
    session.flush()
    if loan.status != before and loan.status in _STATUS_EVENTS:
        record_change(
            session,
            ctx,
            actor=actor,
            action=_STATUS_EVENTS[loan.status],
            subject=f"loan:{loan.id}",
            payload={
                "loan_id": loan.id,
                "from_status": before,
                "status": loan.status,
                "credit_balance_minor": projection.credit_balance_minor,
            },
        )
    elif loan.status != before and before in ("closed", "overpaid", "written_off"):
        record_change(
            session,
            ctx,
            actor=actor,
            action="loan.reopened",
            subject=f"loan:{loan.id}",
            payload={"loan_id": loan.id, "from_status": before, "status": loan.status},
        )
    return projection


def disburse_loan(session: Session, ctx: ServiceContext, *, who: Principal, loan_id: str, on: date) -> Loan:
    """Disburse an approved loan on ``on``: fix and store its schedule; the loan becomes active."""
    loan = require_loan(session, loan_id, lock=True)
    if loan.status != "approved":
        raise Conflict(
            f"cannot disburse a loan that is {loan.status}", current_state=loan.status, allowed_actions=[]
        )
    check_not_after_business_date(session, ctx, field="date", value=on)
    if loan.first_repayment_date is not None and loan.first_repayment_date <= on:
        raise ValidationProblem(
            [
                (
                    "date",
                    f"the first repayment date {loan.first_repayment_date} must be after "
                    "the disbursement date",
                )
            ]
        )
    try:
        schedule = build_schedule(
            terms=load_terms(loan.terms),
            principal_minor=loan.principal_minor,
            annual_interest_rate=Decimal(loan.annual_interest_rate),
            number_of_repayments=loan.number_of_repayments,
            disbursement_date=on,
            first_repayment_date=loan.first_repayment_date,
        )
    except ValueError as exc:
        raise domain_problem(exc) from None
    for row in schedule.rows:
        session.add(
            Installment(
                loan_id=loan.id,
                number=row.number,
                from_date=row.from_date,
                due_date=row.due_date,
                principal_minor=row.principal_minor,
                interest_minor=row.interest_minor,
                fee_minor=row.fee_minor,
                total_minor=row.total_minor,
                balance_minor=row.balance_minor,
                penalty_charged_minor=0,
                paid_principal_minor=0,
                paid_interest_minor=0,
                paid_fee_minor=0,
                paid_penalty_minor=0,
                settled_on=None,
                overdue=False,
            )
        )
    loan.disbursed_on = on
    loan.maturity_date = schedule.maturity_date
    loan.disbursement_fees_minor = schedule.disbursement_fees_minor
    loan.status = "active"
    session.flush()
    recompute_loan(session, ctx, loan, actor=who.actor)
    record_change(
        session,
        ctx,
        actor=who.actor,
        action="loan.disbursed",
        subject=f"loan:{loan.id}",
        payload={
            "loan_id": loan.id,
            "date": on.isoformat(),
            "principal_minor": loan.principal_minor,
            "currency": loan.currency,
            "disbursement_fees_minor": schedule.disbursement_fees_minor,
            "net_disbursed_minor": loan.principal_minor - schedule.disbursement_fees_minor,
            "installments": len(schedule.rows),
            "maturity_date": schedule.maturity_date.isoformat(),
        },
    )
    return loan


def _request_hash(**fields: Any) -> str:
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


def check_disbursed(loan: Loan, action: str) -> None:
    if loan.status == "approved":
        raise Conflict(
            f"cannot {action}: the loan is not disbursed yet",
            current_state="approved",
            allowed_actions=["disburse"],
        )


def check_booking_date(session: Session, ctx: ServiceContext, loan: Loan, *, field: str, on: date) -> None:
    check_not_after_business_date(session, ctx, field=field, value=on)
    assert loan.disbursed_on is not None
    if on < loan.disbursed_on:
        raise ValidationProblem(
            [(field, f"{on.isoformat()} is before the disbursement date {loan.disbursed_on.isoformat()}")]
        )


def append_transaction(
    session: Session,
    ctx: ServiceContext,
    loan: Loan,
    *,
    who: Principal,
    kind: str,
    on: date,
    amount_minor: int,
    **columns: Any,
) -> tuple[LoanTransaction, Projection]:
    """Append one transaction to a locked loan and replay the account; return both."""
    (sequence,) = repo.next_sequences(loan, 1)
    txn = LoanTransaction(
        id=new_id(),
        loan_id=loan.id,
        sequence=sequence,
        kind=kind,
        on_date=on,
        amount_minor=amount_minor,
        currency=loan.currency,
        created_at=ctx.clock.now(),
        created_by=who.actor,
        **columns,
    )
    catalog.add(session, txn)
    loan.last_transaction_on = repo.latest_date(loan.last_transaction_on, on)
    return txn, recompute_loan(session, ctx, loan, actor=who.actor)


def post_repayment(
    session: Session,
    ctx: ServiceContext,
    *,
    who: Principal,
    loan_id: str,
    amount_minor: int,
    on: date,
    external_id: str,
    source: str,
) -> tuple[LoanTransaction, bool]:
    """Record a repayment (idempotent by ``external_id``); return (transaction, replayed)."""
    loan = require_loan(session, loan_id, lock=True)
    request_hash = _request_hash(amount_minor=amount_minor, date=on.isoformat(), source=source)
    existing = repo.transaction_by_external_id(session, loan.id, external_id)
    if existing is not None:
        if existing.request_hash != request_hash:
            raise Conflict(
                f"external_id {external_id!r} was already used on this loan for a different repayment",
                current_state="recorded",
                transaction_id=existing.id,
            )
        return existing, True
    check_disbursed(loan, "post a repayment")
    if who.role is Role.SERVICE and source != "sale_proceeds":
        raise Forbidden("a service key posts repayments from sale proceeds only (source=sale_proceeds)")
    if source == "sale_proceeds":
        product = catalog.get_product(session, loan.product_id)
        if product is None or not product.allow_sale_proceeds:
            raise Forbidden("this loan's product does not accept repayment from sale proceeds")
    check_booking_date(session, ctx, loan, field="date", on=on)
    txn, projection = append_transaction(
        session,
        ctx,
        loan,
        who=who,
        kind="repayment",
        on=on,
        amount_minor=amount_minor,
        external_id=external_id,
        request_hash=request_hash,
        source=source,
    )
    allocation = projection.allocations[txn.sequence]
    record_change(
        session,
        ctx,
        actor=who.actor,
        action="loan.repayment_posted",
        subject=f"loan:{loan.id}",
        payload={
            "loan_id": loan.id,
            "transaction_id": txn.id,
            "external_id": external_id,
            "amount_minor": amount_minor,
            "currency": loan.currency,
            "date": on.isoformat(),
            "source": source,
            "principal_minor": allocation.allocated.principal_minor,
            "interest_minor": allocation.allocated.interest_minor,
            "fee_minor": allocation.allocated.fee_minor,
            "penalty_minor": allocation.allocated.penalty_minor,
            "overpayment_minor": allocation.overpayment_minor,
            "recovery_minor": allocation.recovery_minor,
            "status": loan.status,
        },
    )
    return txn, False
