"""Arrears over a simulated season: days past due, buckets, tolerance, penalties, accrual."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.loans.domain import (
    ChargeCalculation,
    DelinquencyBucket,
    LoanAccount,
    OverduePenalty,
    PenaltyFrequency,
    Repayment,
    Reversal,
    delinquency_bucket,
)
from tests.loans.domain.kit import build, small_loan, terms


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (0, DelinquencyBucket.CURRENT),
        (1, DelinquencyBucket.DAYS_1_30),
        (30, DelinquencyBucket.DAYS_1_30),
        (31, DelinquencyBucket.DAYS_31_60),
        (60, DelinquencyBucket.DAYS_31_60),
        (61, DelinquencyBucket.DAYS_61_90),
        (90, DelinquencyBucket.DAYS_61_90),
        (91, DelinquencyBucket.DAYS_91_180),
        (180, DelinquencyBucket.DAYS_91_180),
        (181, DelinquencyBucket.DAYS_180_PLUS),
    ],
)
def test_bucket_boundaries(days: int, bucket: DelinquencyBucket) -> None:
    assert delinquency_bucket(days_past_due=days) is bucket


def test_negative_days_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        delinquency_bucket(days_past_due=-1)


def test_days_past_due_over_a_season() -> None:
    # A 6-month maize loan disbursed Jan 1: installments due on the 1st, Feb to Jul.
    # The farmer pays February, misses March and April in a dry spell, catches up with
    # March's installment on Apr 20, and clears all arrears at harvest on Jun 15.
    schedule = build(terms(), principal=600_000, rate="24", n=6, disbursed=date(2025, 1, 1))
    due = {row.number: row.total_minor for row in schedule.rows}
    account = LoanAccount(
        schedule=schedule,
        transactions=(
            Repayment(sequence=1, on=date(2025, 2, 1), amount_minor=due[1]),
            Repayment(sequence=2, on=date(2025, 4, 20), amount_minor=due[2]),
            Repayment(sequence=3, on=date(2025, 6, 15), amount_minor=due[3] + due[4] + due[5]),
        ),
    )
    expected = [
        (date(2025, 2, 1), 0, DelinquencyBucket.CURRENT),  # paid on the due date
        (date(2025, 3, 1), 0, DelinquencyBucket.CURRENT),  # due today: not yet late
        (date(2025, 3, 2), 1, DelinquencyBucket.DAYS_1_30),
        (date(2025, 3, 31), 30, DelinquencyBucket.DAYS_1_30),
        (date(2025, 4, 1), 31, DelinquencyBucket.DAYS_31_60),
        (date(2025, 4, 19), 49, DelinquencyBucket.DAYS_31_60),
        (date(2025, 4, 20), 19, DelinquencyBucket.DAYS_1_30),  # oldest unpaid is now Apr 1
        (date(2025, 5, 31), 60, DelinquencyBucket.DAYS_31_60),
        (date(2025, 6, 1), 61, DelinquencyBucket.DAYS_61_90),
        (date(2025, 6, 15), 0, DelinquencyBucket.CURRENT),  # harvest clears the arrears
        (date(2025, 7, 1), 0, DelinquencyBucket.CURRENT),
        (date(2025, 7, 2), 1, DelinquencyBucket.DAYS_1_30),  # the last one is not paid yet
        (date(2025, 12, 29), 181, DelinquencyBucket.DAYS_180_PLUS),
    ]
    for as_of, days, bucket in expected:
        assert account.days_past_due(as_of=as_of) == days, as_of
        assert account.delinquency_bucket(as_of=as_of) is bucket, as_of


def test_arrears_tolerance_ignores_a_small_shortfall() -> None:
    shortfall = Repayment(sequence=1, on=date(2025, 2, 1), amount_minor=103_500 - 50)
    strict = LoanAccount(schedule=small_loan(), transactions=(shortfall,))
    tolerant = LoanAccount(schedule=small_loan(arrears_tolerance_minor=100), transactions=(shortfall,))
    assert strict.days_past_due(as_of=date(2025, 2, 20)) == 19
    assert tolerant.days_past_due(as_of=date(2025, 2, 20)) == 0
    assert tolerant.days_past_due(as_of=date(2025, 3, 5)) == 4  # installment 2 is fully unpaid


FLAT_ONCE = OverduePenalty(calculation=ChargeCalculation.FLAT, amount_minor=5_000)
PERCENT_MONTHLY = OverduePenalty(
    calculation=ChargeCalculation.PERCENT,
    frequency=PenaltyFrequency.PER_PERIOD,
    percent=Decimal(2),
)


def test_penalty_is_assessed_once_and_never_twice() -> None:
    account = LoanAccount(schedule=small_loan(overdue_penalty=FLAT_ONCE))
    assert account.penalties_due(as_of=date(2025, 2, 1)) == ()  # due today, not overdue

    first_run = account.penalties_due(as_of=date(2025, 2, 5))
    assert [(p.installment_number, p.charged_on, p.amount_minor) for p in first_run] == [
        (1, date(2025, 2, 2), 5_000)
    ]
    assert account.penalties_due(as_of=date(2025, 2, 5)) == first_run  # deterministic

    # The COB job records what is new; running it again (same or later day) adds nothing.
    account = account.with_transactions(first_run[0].to_charge(sequence=1))
    assert account.penalties_due(as_of=date(2025, 2, 5)) == ()
    assert account.penalties_due(as_of=date(2025, 2, 28)) == ()
    assert account.state().installments[0].due.penalty_minor == 5_000
    # A month on, installment 2 is late too: only it is new.
    later = account.penalties_due(as_of=date(2025, 3, 10))
    assert [(p.installment_number, p.charged_on) for p in later] == [(2, date(2025, 3, 2))]


def test_no_penalty_when_paid_on_the_due_date_or_back_dated() -> None:
    on_time = Repayment(sequence=1, on=date(2025, 2, 1), amount_minor=103_500)
    account = LoanAccount(schedule=small_loan(overdue_penalty=FLAT_ONCE), transactions=(on_time,))
    assert account.penalties_due(as_of=date(2025, 2, 20)) == ()


def test_penalty_per_period_on_overdue_principal_and_interest() -> None:
    # 2% of the overdue principal + interest, charged the day after the due date and again
    # every month while the installment stays unpaid.
    account = LoanAccount(schedule=small_loan(overdue_penalty=PERCENT_MONTHLY))
    assessed = account.penalties_due(as_of=date(2025, 4, 1))
    assert [(p.installment_number, p.charged_on, p.amount_minor) for p in assessed] == [
        (1, date(2025, 2, 2), 2_060),  # 2% of 1,030.00
        (1, date(2025, 3, 2), 2_060),
        (2, date(2025, 3, 2), 2_040),  # 2% of 1,020.00
    ]
    # Half of installment 1's principal is paid on Mar 15: April's charge is on what is left.
    account = account.with_transactions(
        *(a.to_charge(sequence=i) for i, a in enumerate(assessed, start=1)),
        Repayment(sequence=10, on=date(2025, 3, 15), amount_minor=4_120 + 500 + 3_000 + 50_000),
    )
    april = account.penalties_due(as_of=date(2025, 4, 2))
    assert [(p.installment_number, p.charged_on, p.amount_minor) for p in april] == [
        (1, date(2025, 4, 2), 1_000),  # 2% of the 500.00 still overdue
        (2, date(2025, 4, 2), 2_040),
        (3, date(2025, 4, 2), 2_020),  # installment 3 fell due on Apr 1: 2% of 1,010.00
    ]


def test_a_waived_penalty_is_not_assessed_again() -> None:
    account = LoanAccount(schedule=small_loan(overdue_penalty=FLAT_ONCE))
    (assessment,) = account.penalties_due(as_of=date(2025, 2, 5))
    account = account.with_transactions(
        assessment.to_charge(sequence=1), Reversal(sequence=2, on=date(2025, 2, 6), reverses=1)
    )
    assert account.state().installments[0].due.penalty_minor == 0
    assert account.penalties_due(as_of=date(2025, 2, 10)) == ()


def test_no_penalties_without_a_penalty_in_the_product() -> None:
    assert LoanAccount(schedule=small_loan()).penalties_due(as_of=date(2025, 12, 31)) == ()


def test_interest_accrual_is_linear_by_days_within_the_current_period() -> None:
    account = LoanAccount(schedule=small_loan())
    # Jan 1 -> Feb 1 is 31 days with 30.00 of interest; on Jan 16, 15 days have run.
    mid_january = account.accrued_interest(as_of=date(2025, 1, 16))
    assert (mid_january.due_interest_minor, mid_january.accrued_not_due_minor) == (0, 1_452)
    on_due_date = account.accrued_interest(as_of=date(2025, 2, 1))
    assert (on_due_date.due_interest_minor, on_due_date.accrued_not_due_minor) == (3_000, 0)
    # Feb 1 -> Mar 1 is 28 days with 20.00; on Feb 15 half of it has accrued.
    assert account.accrued_interest(as_of=date(2025, 2, 15)).total_minor == 3_000 + 1_000
    assert account.accrued_interest(as_of=date(2025, 6, 1)).total_minor == 6_000
    assert account.accrued_interest(as_of=date(2024, 12, 31)).total_minor == 0
