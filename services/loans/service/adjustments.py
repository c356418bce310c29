"""Corrections on a loan account: reversals (never edits) and write-offs.

Like every change, they lock the loan row, append a transaction and replay the account
(``accounts.append_transaction``).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from services.loans.domain import WriteOff
from services.loans.domain.lifecycle import LoanAction, transaction_actions
from services.loans.domain.outcomes import write_off_outcome
from services.loans.repository import accounts as repo
from services.loans.service.accounts import (
    TransactionView,
    account_of,
    append_transaction,
    check_booking_date,
    check_loan_action,
    require_loan,
    transaction_view,
)
from services.loans.service.business_date import business_date
from services.loans.service.loan_outcomes import WRITTEN_OFF, report_outcomes
from services.loans.settings import LoansContext
from shared.auth import Principal
from shared.changes import record_change
from shared.errors import Conflict, NotFound, ValidationProblem


def reverse_transaction(
    session: Session,
    ctx: LoansContext,
    *,
    who: Principal,
    loan_id: str,
    transaction_id: str,
    on: date | None,
    note: str | None,
) -> TransactionView:
    """Reverse a repayment, penalty (a waiver) or write-off by adding a reversal."""
    loan = require_loan(session, loan_id, lock=True)
    check_loan_action(loan, LoanAction.REVERSE)
    target = repo.get_transaction(session, loan.id, transaction_id)
    if target is None:
        raise NotFound(f"transaction {transaction_id} not found on loan {loan_id}")
    reversed_by = repo.reversal_of(session, loan.id, target.id)
    offered = [a.value for a in transaction_actions(kind=target.kind, reversed=reversed_by is not None)]
    if target.kind == "reversal":
        raise Conflict("a reversal cannot be reversed", current_state="reversal", allowed_actions=offered)
    if reversed_by is not None:
        raise Conflict(
            "this transaction is already reversed", current_state="reversed", allowed_actions=offered
        )
    on = on or business_date(session, ctx)
    check_booking_date(session, ctx, loan, field="date", on=on)
    if on < target.on_date:
        raise ValidationProblem([("date", "a reversal cannot be dated before the transaction it reverses")])
    reversal, _ = append_transaction(
        session,
        ctx,
        loan,
        who=who,
        kind="reversal",
        on=on,
        amount_minor=target.amount_minor,
        reverses_id=target.id,
        note=note,
    )
    record_change(
        session,
        ctx,
        actor=who.actor,
        action="loan.transaction_reversed",
        subject=f"loan:{loan.id}",
        payload={
            "loan_id": loan.id,
            "transaction_id": reversal.id,
            "reverses": target.id,
            "reversed_kind": target.kind,
            "amount_minor": target.amount_minor,
            "currency": loan.currency,
            "date": on.isoformat(),
            "note": note,
            "status": loan.status,
        },
    )
    return transaction_view(session, reversal)


def write_off_loan(
    session: Session, ctx: LoansContext, *, who: Principal, loan_id: str, on: date | None, note: str | None
) -> TransactionView:
    """Write off everything outstanding; later repayments count as recoveries."""
    loan = require_loan(session, loan_id, lock=True)
    check_loan_action(loan, LoanAction.WRITE_OFF)
    on = on or business_date(session, ctx)
    check_booking_date(session, ctx, loan, field="date", on=on)
    # The domain decides what a write-off on ``on`` writes off (what was owed that day; any
    # repayment dated later becomes a recovery), so the recorded amount is the replay's.
    account = account_of(loan, repo.installments_of(session, loan.id), repo.transactions_of(session, loan.id))
    after = max((t.sequence for t in account.transactions), default=0) + 1
    written = write_off_outcome(
        account.with_transactions(WriteOff(sequence=after, on=on)).state().written_off, loan.currency
    )
    txn, projection = append_transaction(
        session, ctx, loan, who=who, kind="write_off", on=on, amount_minor=written.total.minor, note=note
    )
    record_change(
        session,
        ctx,
        actor=who.actor,
        action="loan.written_off",
        subject=f"loan:{loan.id}",
        payload={
            "loan_id": loan.id,
            "transaction_id": txn.id,
            "date": on.isoformat(),
            "currency": written.total.currency,
            "written_off_minor": written.total.minor,
            "principal_minor": written.principal.minor,
            "interest_minor": written.interest.minor,
            "fee_minor": written.fee.minor,
            "penalty_minor": written.penalty.minor,
            "note": note,
            "status": projection.status.value,
        },
    )
    report_outcomes(
        session,
        ctx,
        loan_id=loan.id,
        disbursed_on=loan.disbursed_on,
        outcomes=[(WRITTEN_OFF, on)],
        actor=who.actor,
    )
    return transaction_view(session, txn)
