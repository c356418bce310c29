"""Use cases on a loan account: disburse, repay, and read its state, schedule and transactions.

What is allowed when is the domain's (``domain.lifecycle``). Every change locks the loan row
first (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite writers are serialised anyway),
appends an immutable transaction, replays the whole account with the domain (so a
back-dated repayment re-allocates everything after it) and writes the projection back: loan
balances and arrears, installment paid/overdue state, allocations.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from services.loans.domain import LoanAccount, build_schedule
from services.loans.domain.lifecycle import ActionRefused, LoanAction, LoanStatus, check_loan
from services.loans.domain.outcomes import disbursement_of
from services.loans.domain.projection import Projection, account_from_rows, project
from services.loans.domain.repayment_limit import acceptable_repayment_minor
from services.loans.models import Allocation, Installment, Loan, LoanTransaction
from services.loans.repository import accounts as repo
from services.loans.repository import add
from services.loans.repository import products as products_repo
from services.loans.schemas.terms import load_terms
from services.loans.service.business_date import business_date, check_not_after_business_date
from services.loans.service.errors import action_refused, domain_problem
from services.loans.service.escrow_instructions import close_on_loan_end, register_on_disbursement
from services.loans.service.loan_outcomes import REPAID, report_outcomes
from services.loans.settings import LoansContext
from shared.auth import Principal, Role
from shared.changes import new_id, record_change
from shared.crypto import canonical_json
from shared.errors import Conflict, Forbidden, NotFound, ValidationProblem

# A write-off announces itself (``loan.written_off`` from ``write_off_loan``, with its amounts).
_STATUS_EVENTS = {LoanStatus.CLOSED: "loan.closed", LoanStatus.OVERPAID: "loan.overpaid"}
_FINAL = (LoanStatus.CLOSED, LoanStatus.OVERPAID, LoanStatus.WRITTEN_OFF)


@dataclass(frozen=True)
class LoanView:
    """A loan and, when it is read live, its account replayed as of the business date."""

    loan: Loan
    projection: Projection | None


@dataclass(frozen=True)
class TransactionView:
    """A transaction with its current allocation and the id of its reversal, if any."""

    transaction: LoanTransaction
    allocation: Allocation | None
    reversed_by_id: str | None


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


def live_projection(session: Session, ctx: LoansContext, loan: Loan, as_of: date | None = None) -> Projection:
    """The account replayed now (as of the business date unless told otherwise)."""
    account = account_of(loan, repo.installments_of(session, loan.id), repo.transactions_of(session, loan.id))
    return project(account, as_of=as_of or business_date(session, ctx))


def read_loan(session: Session, ctx: LoansContext, loan_id: str) -> LoanView:
    """A loan as of the business date (a disbursed one replayed live)."""
    return live_view(session, ctx, require_loan(session, loan_id))


def live_view(session: Session, ctx: LoansContext, loan: Loan) -> LoanView:
    """The live view of a loan: replayed as of the business date once disbursed."""
    projection = live_projection(session, ctx, loan) if loan.disbursed_on is not None else None
    return LoanView(loan, projection)


def list_loans(
    session: Session, *, status: str | None, borrower_id: str | None, limit: int, offset: int
) -> list[LoanView]:
    """Loans, newest first, with their stored state (as of their last change or COB)."""
    rows = repo.list_loans(session, status=status, borrower_id=borrower_id, limit=limit, offset=offset)
    return [LoanView(loan, None) for loan in rows]


def loan_schedule(session: Session, loan_id: str) -> tuple[Loan, Sequence[Installment]]:
    """A loan and its stored schedule rows with their replayed paid/overdue state."""
    loan = require_loan(session, loan_id)
    return loan, repo.installments_of(session, loan.id)


def loan_transactions(session: Session, loan_id: str) -> list[TransactionView]:
    """Every transaction on the loan in recording order, with current allocations."""
    loan = require_loan(session, loan_id)
    txns = repo.transactions_of(session, loan.id)
    allocations = repo.allocations_of(session, loan.id)
    reversed_by = {t.reverses_id: t.id for t in txns if t.kind == "reversal"}
    return [TransactionView(t, allocations.get(t.id), reversed_by.get(t.id)) for t in txns]


def transaction_view(session: Session, txn: LoanTransaction) -> TransactionView:
    """One transaction with its current allocation and reversal."""
    allocation = repo.allocations_of(session, txn.loan_id).get(txn.id)
    reversal = repo.reversal_of(session, txn.loan_id, txn.id)
    return TransactionView(txn, allocation, reversal.id if reversal is not None else None)


def check_loan_action(loan: Loan, action: LoanAction) -> None:
    """Refuse (409, with the allowed actions) what the loan's status does not allow."""
    try:
        check_loan(loan.status, action)
    except ActionRefused as exc:
        raise action_refused(exc) from None


def recompute_loan(session: Session, ctx: LoansContext, loan: Loan, *, actor: str) -> Projection:
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
            action=_STATUS_EVENTS[LoanStatus(loan.status)],
            subject=f"loan:{loan.id}",
            payload={
                "loan_id": loan.id,
                "from_status": before,
                "status": loan.status,
                "credit_balance_minor": projection.credit_balance_minor,
            },
        )
        if loan.status != before and before not in _FINAL:  # closed by repayment
            report_outcomes(
                session,
                ctx,
                loan_id=loan.id,
                disbursed_on=loan.disbursed_on,
                outcomes=[(REPAID, projection.closed_on or business_date(session, ctx))],
                actor=actor,
            )
    elif loan.status != before and before in _FINAL:
        record_change(
            session,
            ctx,
            actor=actor,
            action="loan.reopened",
            subject=f"loan:{loan.id}",
            payload={"loan_id": loan.id, "from_status": before, "status": loan.status},
        )
    if loan.status != before and loan.status in _FINAL and before not in _FINAL:
        close_on_loan_end(session, ctx, loan=loan)  # the loan ended: escrow sweeps it no more
    return projection


def disburse_loan(
    session: Session,
    ctx: LoansContext,
    *,
    who: Principal,
    loan_id: str,
    on: date,
    idempotency_key: str | None = None,
) -> LoanView:
    """Disburse an approved loan on ``on``: fix and store its schedule; the loan becomes active."""
    loan = require_loan(session, loan_id, lock=True)
    return disburse_as(session, ctx, actor=who.actor, loan=loan, on=on, idempotency_key=idempotency_key)


def disburse_as(
    session: Session,
    ctx: LoansContext,
    *,
    actor: str,
    loan: Loan,
    on: date,
    idempotency_key: str | None = None,
) -> LoanView:
    """Disburse ``loan`` (locked) on ``on`` in the name of ``actor`` (a person, or a decision policy).

    A loan whose product assigns sale proceeds, to a borrower linked to a marketplace party,
    gets a ``register`` instruction to escrow in the same transaction; its Idempotency-Key at
    escrow derives from ``idempotency_key`` (the disburse request's) or, without one, from the
    loan id (``service.escrow_instructions``).
    """
    check_loan_action(loan, LoanAction.DISBURSE)
    check_not_after_business_date(session, ctx, field="date", value=on)
    maximum = ctx.settings.max_amount_for(loan.currency)
    if loan.principal_minor > maximum:
        raise ValidationProblem(
            [("principal_minor", f"{loan.principal_minor} is above the maximum of {maximum} {loan.currency}")]
        )
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
    disbursed = disbursement_of(schedule)
    loan.disbursed_on = on
    loan.maturity_date = disbursed.maturity_date
    loan.disbursement_fees_minor = disbursed.fees.minor
    loan.status = LoanStatus.ACTIVE.value
    session.flush()
    recompute_loan(session, ctx, loan, actor=actor)
    record_change(
        session,
        ctx,
        actor=actor,
        action="loan.disbursed",
        subject=f"loan:{loan.id}",
        payload={
            "loan_id": loan.id,
            "date": on.isoformat(),
            "principal_minor": disbursed.principal.minor,
            "currency": disbursed.principal.currency,
            "disbursement_fees_minor": disbursed.fees.minor,
            "net_disbursed_minor": disbursed.net.minor,
            "installments": disbursed.installments,
            "maturity_date": disbursed.maturity_date.isoformat(),
        },
    )
    register_on_disbursement(
        session, ctx, loan=loan, owed_minor=schedule.total_due_minor, request_key=idempotency_key
    )
    # Disbursing just replayed the account as of the business date and stored it on the loan.
    return LoanView(loan, None)


def _request_hash(**fields: Any) -> str:
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


def check_booking_date(session: Session, ctx: LoansContext, loan: Loan, *, field: str, on: date) -> None:
    check_not_after_business_date(session, ctx, field=field, value=on)
    assert loan.disbursed_on is not None
    if on < loan.disbursed_on:
        raise ValidationProblem(
            [(field, f"{on.isoformat()} is before the disbursement date {loan.disbursed_on.isoformat()}")]
        )


def append_transaction(
    session: Session,
    ctx: LoansContext,
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
    add(session, txn)
    loan.last_transaction_on = repo.latest_date(loan.last_transaction_on, on)
    return txn, recompute_loan(session, ctx, loan, actor=who.actor)


def acceptable_repayment(
    session: Session, ctx: LoansContext, loan: Loan, *, tolerance_minor: int | None = None
) -> int:
    """The largest repayment a disbursed loan accepts now: what it owes plus the tolerance
    (``overpayment_tolerance_minor`` unless told otherwise; a sweep of sale proceeds takes none)."""
    account = account_of(loan, repo.installments_of(session, loan.id), repo.transactions_of(session, loan.id))
    tolerance = ctx.settings.overpayment_tolerance_minor if tolerance_minor is None else tolerance_minor
    limit = acceptable_repayment_minor(account.state(), tolerance_minor=tolerance)
    return min(limit, ctx.settings.max_amount_for(loan.currency))


def check_repayment_amount(
    session: Session, ctx: LoansContext, loan: Loan, *, amount_minor: int, limit: int | None = None
) -> None:
    """Refuse (422 naming ``amount_minor``) a repayment above what the loan can take."""
    limit = acceptable_repayment(session, ctx, loan) if limit is None else limit
    if amount_minor > limit:
        raise ValidationProblem(
            [
                (
                    "amount_minor",
                    f"{amount_minor} is more than this loan accepts: at most {limit} {loan.currency} "
                    "(everything still owed plus the overpayment tolerance, within the maximum amount)",
                )
            ]
        )


def post_repayment(
    session: Session,
    ctx: LoansContext,
    *,
    who: Principal,
    loan_id: str,
    amount_minor: int,
    on: date,
    external_id: str,
    source: str,
    acceptable_minor: int | None = None,
) -> tuple[TransactionView, bool]:
    """Record a repayment (idempotent by ``external_id``); return (transaction, replayed).

    ``acceptable_minor``: the caller already computed ``acceptable_repayment`` on the locked loan
    (a sweep caps itself by it), so it is not replayed again.
    """
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
        return transaction_view(session, existing), True
    check_loan_action(loan, LoanAction.REPAY)
    if who.role is Role.SERVICE and source != "sale_proceeds":
        raise Forbidden("a service key posts repayments from sale proceeds only (source=sale_proceeds)")
    if source == "sale_proceeds":
        product = products_repo.get_product(session, loan.product_id)
        if product is None or not product.allow_sale_proceeds:
            raise Forbidden("this loan's product does not accept repayment from sale proceeds")
    check_booking_date(session, ctx, loan, field="date", on=on)
    check_repayment_amount(session, ctx, loan, amount_minor=amount_minor, limit=acceptable_minor)
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
    paid = projection.repayment(txn.sequence)
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
            "amount_minor": paid.amount.minor,
            "currency": paid.amount.currency,
            "date": on.isoformat(),
            "source": source,
            "principal_minor": paid.allocated.principal.minor,
            "interest_minor": paid.allocated.interest.minor,
            "fee_minor": paid.allocated.fee.minor,
            "penalty_minor": paid.allocated.penalty.minor,
            "overpayment_minor": paid.overpayment.minor,
            "recovery_minor": paid.recovery.minor,
            "status": loan.status,
        },
    )
    return transaction_view(session, txn), False
