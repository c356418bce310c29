"""From stored rows to the domain and back: one replay gives everything a loan stores.

Pure (no SQL, no ORM: rows are described by Protocols): ``account_from_rows`` (with
``schedule_from_rows`` and ``transactions_from_rows``) rebuilds the domain account from what
persistence loaded, and ``project`` replays the account once and derives the stored
projection — outstanding components, days past due and bucket (``days_past_due_of``),
accrued interest, per-installment paid/overdue state and each repayment's allocation. Which
columns hold what is the repository's business (``repository.accounts``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol

from services.loans.domain.account import (
    AccountStatus,
    Allocation,
    Components,
    LoanAccount,
    days_past_due_of,
)
from services.loans.domain.arrears import DelinquencyBucket, accrue_interest, delinquency_bucket
from services.loans.domain.outcomes import RepaymentOutcome, repayment_outcome
from services.loans.domain.schedule import Schedule, ScheduleRow
from services.loans.domain.terms import LoanTerms
from services.loans.domain.transactions import PenaltyCharge, Repayment, Reversal, Transaction, WriteOff


class InstallmentRowLike(Protocol):
    """What a stored installment row offers (ORM object or result row)."""

    number: int
    from_date: date
    due_date: date
    principal_minor: int
    interest_minor: int
    fee_minor: int
    total_minor: int
    balance_minor: int


class TransactionRowLike(Protocol):
    """What a stored transaction row offers."""

    id: str
    sequence: int
    kind: str
    on_date: date
    amount_minor: int
    reverses_id: str | None
    installment_number: int | None


def schedule_from_rows(
    *,
    terms: LoanTerms,
    principal_minor: int,
    annual_interest_rate: str,
    disbursed_on: date,
    disbursement_fees_minor: int,
    rows: Iterable[InstallmentRowLike],
) -> Schedule:
    """The fixed schedule of a loan, exactly as stored at disbursement."""
    schedule_rows = tuple(
        ScheduleRow(
            number=r.number,
            from_date=r.from_date,
            due_date=r.due_date,
            principal_minor=r.principal_minor,
            interest_minor=r.interest_minor,
            fee_minor=r.fee_minor,
            penalty_minor=0,
            total_minor=r.total_minor,
            balance_minor=r.balance_minor,
        )
        for r in sorted(rows, key=lambda row: row.number)
    )
    return Schedule(
        terms=terms,
        principal_minor=principal_minor,
        annual_interest_rate=Decimal(annual_interest_rate),
        disbursement_date=disbursed_on,
        rows=schedule_rows,
        disbursement_fees_minor=disbursement_fees_minor,
        level_installment_minor=None,
    )


class LoanRowLike(Protocol):
    """What a stored loan row offers to rebuild its schedule (ORM object or result row)."""

    principal_minor: int
    annual_interest_rate: str
    disbursed_on: date | None
    disbursement_fees_minor: int


def account_from_rows(
    loan: LoanRowLike,
    *,
    terms: LoanTerms,
    installments: Iterable[InstallmentRowLike],
    transactions: Sequence[TransactionRowLike],
) -> LoanAccount:
    """The domain account of a disbursed loan from its stored rows."""
    assert loan.disbursed_on is not None
    schedule = schedule_from_rows(
        terms=terms,
        principal_minor=loan.principal_minor,
        annual_interest_rate=loan.annual_interest_rate,
        disbursed_on=loan.disbursed_on,
        disbursement_fees_minor=loan.disbursement_fees_minor,
        rows=installments,
    )
    return LoanAccount(schedule=schedule, transactions=transactions_from_rows(transactions))


def transactions_from_rows(rows: Sequence[TransactionRowLike]) -> tuple[Transaction, ...]:
    """Domain transactions from stored rows (reversals resolved from ids to sequences)."""
    sequence_of = {r.id: r.sequence for r in rows}
    out: list[Transaction] = []
    for r in rows:
        if r.kind == "repayment":
            out.append(Repayment(sequence=r.sequence, on=r.on_date, amount_minor=r.amount_minor))
        elif r.kind == "penalty":
            assert r.installment_number is not None
            out.append(
                PenaltyCharge(
                    sequence=r.sequence,
                    on=r.on_date,
                    installment_number=r.installment_number,
                    amount_minor=r.amount_minor,
                )
            )
        elif r.kind == "reversal":
            assert r.reverses_id is not None
            out.append(Reversal(sequence=r.sequence, on=r.on_date, reverses=sequence_of[r.reverses_id]))
        elif r.kind == "write_off":
            out.append(WriteOff(sequence=r.sequence, on=r.on_date))
        else:  # pragma: no cover - the kinds are fixed by the service
            raise ValueError(f"unknown transaction kind {r.kind!r}")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class InstallmentProjection:
    """The replayed part of one installment."""

    number: int
    penalty_charged_minor: int
    paid: Components
    settled_on: date | None
    overdue: bool


@dataclass(frozen=True, slots=True)
class Projection:
    """Everything a loan row stores about its account, as of ``as_of``."""

    as_of: date
    currency: str
    status: AccountStatus
    outstanding: Components
    credit_balance_minor: int
    days_past_due: int
    bucket: DelinquencyBucket
    interest_accrued_minor: int
    written_off_on: date | None
    closed_on: date | None
    installments: tuple[InstallmentProjection, ...]
    allocations: dict[int, Allocation]

    def repayment(self, sequence: int) -> RepaymentOutcome:
        """What the repayment recorded as ``sequence`` paid, as Money in the loan's currency."""
        return repayment_outcome(self.allocations[sequence], self.currency)


def project(account: LoanAccount, *, as_of: date) -> Projection:
    """Replay ``account`` (once, twice only when it has transactions after ``as_of``)."""
    full = account.state()
    later = any(t.on > as_of for t in account.transactions)
    snap = account.state(as_of=as_of) if later else full
    terms = account.schedule.terms
    tolerance = terms.arrears_tolerance_minor
    dpd = days_past_due_of(snap, tolerance_minor=tolerance, as_of=as_of)
    accrued = accrue_interest(
        schedule=account.schedule, as_of=as_of, written_off=snap.written_off_on is not None
    ).total_minor
    installments = tuple(
        InstallmentProjection(
            number=i.number,
            penalty_charged_minor=i.due.penalty_minor,
            paid=i.paid,
            settled_on=i.settled_on,
            overdue=(
                full.status is AccountStatus.ACTIVE
                and i.due_date < as_of
                and i.outstanding.total_minor > tolerance
            ),
        )
        for i in full.installments
    )
    closed_on = None
    if full.status in (AccountStatus.CLOSED, AccountStatus.OVERPAID):
        settled = [i.settled_on for i in full.installments if i.settled_on is not None]
        closed_on = max(settled) if settled else None
    return Projection(
        as_of=as_of,
        currency=terms.currency,
        status=full.status,
        outstanding=full.outstanding,
        credit_balance_minor=full.credit_balance_minor,
        days_past_due=dpd,
        bucket=delinquency_bucket(days_past_due=dpd),
        interest_accrued_minor=accrued,
        written_off_on=full.written_off_on,
        closed_on=closed_on,
        installments=installments,
        allocations={a.sequence: a for a in full.allocations},
    )
