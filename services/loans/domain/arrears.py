"""Arrears vocabulary: delinquency buckets, overdue-penalty assessments, interest accrual.

The functions here are pure helpers over a schedule; ``LoanAccount`` (account.py) combines
them with the replayed account state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from services.loans.domain.dates import add_periods
from services.loans.domain.schedule import Schedule, ScheduleRow
from services.loans.domain.terms import (
    ChargeCalculation,
    LoanTerms,
    OverduePenalty,
    PenaltyFrequency,
)
from services.loans.domain.transactions import PenaltyCharge, PenaltyKey
from shared.money import round_decimal


class DelinquencyBucket(StrEnum):
    """Days-past-due classes used for arrears reports and provisioning."""

    CURRENT = "current"
    DAYS_1_30 = "1-30"
    DAYS_31_60 = "31-60"
    DAYS_61_90 = "61-90"
    DAYS_91_180 = "91-180"
    DAYS_180_PLUS = "180+"


def delinquency_bucket(*, days_past_due: int) -> DelinquencyBucket:
    """The bucket of a days-past-due figure (0 is current, 181 and more is 180+)."""
    if days_past_due < 0:
        raise ValueError("days_past_due must not be negative")
    if days_past_due == 0:
        return DelinquencyBucket.CURRENT
    for upper, bucket in (
        (30, DelinquencyBucket.DAYS_1_30),
        (60, DelinquencyBucket.DAYS_31_60),
        (90, DelinquencyBucket.DAYS_61_90),
        (180, DelinquencyBucket.DAYS_91_180),
    ):
        if days_past_due <= upper:
            return bucket
    return DelinquencyBucket.DAYS_180_PLUS


@dataclass(frozen=True, slots=True)
class PenaltyAssessment:
    """One overdue penalty that should be charged; ``key`` makes storing it idempotent."""

    installment_number: int
    charged_on: date
    amount_minor: int
    overdue_minor: int

    @property
    def key(self) -> PenaltyKey:
        """The idempotency key (installment, charge date) the caller stores the charge under."""
        return PenaltyKey(self.installment_number, self.charged_on)

    def to_charge(self, *, sequence: int) -> PenaltyCharge:
        """The transaction that records this penalty on the account."""
        return PenaltyCharge(
            sequence=sequence,
            on=self.charged_on,
            installment_number=self.installment_number,
            amount_minor=self.amount_minor,
        )


def penalty_dates(*, terms: LoanTerms, row: ScheduleRow, as_of: date) -> list[date]:
    """Dates up to ``as_of`` on which ``row`` would be charged if still overdue the day before.

    ``ONCE``: the day after the due date. ``PER_PERIOD``: that day and the same day every
    repayment period after it (anchored to the due date, so month ends do not drift).
    """
    penalty = terms.overdue_penalty
    if penalty is None:
        return []
    dates: list[date] = []
    j = 0
    while True:
        anchor = add_periods(
            anchor=row.due_date,
            periods=j,
            frequency=terms.repayment_frequency,
            repay_every=terms.repay_every,
        )
        charge_day = anchor + timedelta(days=1)
        if charge_day > as_of:
            return dates
        dates.append(charge_day)
        if penalty.frequency is PenaltyFrequency.ONCE:
            return dates
        j += 1


def penalty_amount(
    *, penalty: OverduePenalty, overdue_principal_interest_minor: int, terms: LoanTerms
) -> int:
    """The penalty for an installment with this much principal + interest overdue."""
    if penalty.calculation is ChargeCalculation.FLAT:
        return penalty.amount_minor
    return round_decimal(
        overdue_principal_interest_minor * penalty.percent / Decimal(100), terms.rounding_mode
    )


@dataclass(frozen=True, slots=True)
class InterestAccrual:
    """Interest recognised as of a date: what has fallen due plus the current period's share."""

    as_of: date
    due_interest_minor: int
    accrued_not_due_minor: int

    @property
    def total_minor(self) -> int:
        """All interest earned up to ``as_of``."""
        return self.due_interest_minor + self.accrued_not_due_minor


def period_accrual(
    *, interest_minor: int, from_date: date, due_date: date, as_of: date, terms: LoanTerms
) -> int:
    """The share of one period's interest earned by ``as_of``, linear by days, in the terms' rounding."""
    elapsed = Decimal((as_of - from_date).days)
    length = Decimal((due_date - from_date).days)
    return round_decimal(interest_minor * elapsed / length, terms.rounding_mode)


def accrue_interest(*, schedule: Schedule, as_of: date, written_off: bool = False) -> InterestAccrual:
    """Scheduled interest due by ``as_of`` plus the current period's interest, linear by days.

    Like Fineract's periodic accrual, each installment's interest (including interest
    deferred into it by a grace) accrues evenly over that installment's own period. Once
    the loan is ``written_off`` nothing accrues beyond what has fallen due.
    """
    due = 0
    accrued = 0
    for row in schedule.rows:
        if row.due_date <= as_of:
            due += row.interest_minor
        elif row.from_date <= as_of and not written_off:
            accrued = period_accrual(
                interest_minor=row.interest_minor,
                from_date=row.from_date,
                due_date=row.due_date,
                as_of=as_of,
                terms=schedule.terms,
            )
    return InterestAccrual(as_of=as_of, due_interest_minor=due, accrued_not_due_minor=accrued)
