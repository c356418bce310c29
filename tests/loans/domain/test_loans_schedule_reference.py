"""The tuned schedule engine builds exactly what the straightforward reference builds.

``schedule_reference`` is the builder as it was before it was tuned for throughput (issue 13).
For many random terms, amounts, rates and dates the two must give equal schedules (every row,
every total, the level installment) or refuse with the same exception and message.
"""

from __future__ import annotations

import calendar
import dataclasses
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.loans.domain import (
    Amortization,
    ChargeCalculation,
    ChargeTiming,
    DaysInMonth,
    DaysInYear,
    Fee,
    InterestCalculationPeriod,
    InterestMethod,
    LoanTerms,
    RepaymentFrequency,
    ScheduleRow,
    build_schedule,
)
from services.loans.domain.dates import add_months, days_30_360, month_length
from shared.money import RoundingMode
from tests.loans.domain import schedule_reference as reference


@st.composite
def fees(draw: st.DrawFn) -> tuple[Fee, ...]:
    out = []
    for i in range(draw(st.integers(min_value=0, max_value=3))):
        timing = draw(st.sampled_from(ChargeTiming))
        if draw(st.booleans()):
            fee = Fee(f"f{i}", timing, ChargeCalculation.FLAT, amount_minor=draw(st.integers(0, 50_000)))
        else:
            percent = draw(st.decimals(min_value=0, max_value=10, places=3))
            fee = Fee(f"f{i}", timing, ChargeCalculation.PERCENT, percent=percent)
        out.append(fee)
    return tuple(out)


@st.composite
def loans(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(min_value=1, max_value=60))
    grace = st.integers(min_value=0, max_value=n - 1) | st.just(0)
    balloon = draw(st.none() | st.decimals(min_value="0.01", max_value="99.99", places=2))
    loan_terms = LoanTerms(
        currency="KES",
        interest_method=draw(st.sampled_from(InterestMethod)),
        amortization=draw(st.sampled_from(Amortization)),
        interest_calculation_period=draw(st.sampled_from(InterestCalculationPeriod)),
        days_in_year=draw(st.sampled_from(DaysInYear)),
        days_in_month=draw(st.sampled_from(DaysInMonth)),
        repayment_frequency=draw(st.sampled_from(RepaymentFrequency)),
        repay_every=draw(st.integers(min_value=1, max_value=4) | st.just(1)),
        installment_multiple_of_minor=draw(st.none() | st.sampled_from([1, 5, 100, 1_000, 10_000])),
        grace_on_principal_periods=draw(grace),
        grace_on_interest_payment_periods=draw(grace),
        grace_on_interest_charged_periods=draw(grace),
        principal_moratorium_every=draw(st.none() | st.integers(min_value=1, max_value=6)),
        bullet=balloon is None and draw(st.booleans()),
        balloon_percent=balloon,
        fees=draw(fees()),
        rounding_mode=draw(st.sampled_from(RoundingMode)),
    )
    # Month ends and leap days are where date arithmetic goes wrong; the far future is where
    # a due date leaves the calendar (both builders must refuse alike).
    disbursed = draw(
        st.dates(min_value=date(1999, 1, 1), max_value=date(2101, 12, 31))
        | st.sampled_from([date(2024, 1, 31), date(2024, 2, 29), date(2025, 1, 30), date(2025, 8, 31)])
        | st.dates(min_value=date(9990, 1, 1), max_value=date(9999, 12, 30))
    )
    first = draw(
        st.none()
        | st.integers(min_value=-3, max_value=120).map(
            lambda d: disbursed + timedelta(days=d) if disbursed < date(9999, 8, 1) else None
        )
    )
    return {
        "terms": loan_terms,
        "principal_minor": draw(st.integers(min_value=1, max_value=10**13)),
        "annual_interest_rate": draw(
            st.decimals(min_value=0, max_value=150, places=3)
            | st.decimals(min_value=0, max_value=40, places=9)
        ),
        "number_of_repayments": n,
        "disbursement_date": disbursed,
        "first_repayment_date": first,
    }


def outcome(builder: Any, arguments: dict[str, Any]) -> Any:
    """The schedule, or the refusal as (type, message)."""
    try:
        return builder(**arguments)
    except (ValueError, OverflowError, ArithmeticError) as exc:
        return (type(exc), str(exc))


@settings(max_examples=1500, deadline=None)
@given(loans())
def test_the_builder_matches_the_reference_for_random_loans(arguments: dict[str, Any]) -> None:
    built = outcome(build_schedule, arguments)
    assert built == outcome(reference.reference_build_schedule, arguments)


@pytest.mark.parametrize(
    ("interest", "amortization", "period"),
    [
        (
            InterestMethod.DECLINING_BALANCE,
            Amortization.EQUAL_INSTALLMENTS,
            InterestCalculationPeriod.SAME_AS_REPAYMENT,
        ),
        (
            InterestMethod.DECLINING_BALANCE,
            Amortization.EQUAL_PRINCIPAL,
            InterestCalculationPeriod.SAME_AS_REPAYMENT,
        ),
        (InterestMethod.DECLINING_BALANCE, Amortization.EQUAL_INSTALLMENTS, InterestCalculationPeriod.DAILY),
        (InterestMethod.FLAT, Amortization.EQUAL_INSTALLMENTS, InterestCalculationPeriod.SAME_AS_REPAYMENT),
    ],
)
def test_the_benchmarked_shapes_match_row_by_row(
    interest: InterestMethod, amortization: Amortization, period: InterestCalculationPeriod
) -> None:
    loan_terms = LoanTerms(
        currency="KES",
        interest_method=interest,
        amortization=amortization,
        interest_calculation_period=period,
    )
    for day in range(1, 32):
        arguments: dict[str, Any] = {
            "terms": loan_terms,
            "principal_minor": 25_000_000 + day,
            "annual_interest_rate": Decimal("18"),
            "number_of_repayments": 18,
            "disbursement_date": date(2025, 1, day),
        }
        built, expected = build_schedule(**arguments), reference.reference_build_schedule(**arguments)
        assert built.rows == expected.rows
        assert built == expected


def test_month_length_and_add_months_agree_with_the_calendar() -> None:
    for year in (1, 4, 100, 400, 1900, 2000, 2023, 2024, 2100, 9999):
        for month in range(1, 13):
            assert month_length(year, month) == calendar.monthrange(year, month)[1]
    for start in (date(2024, 1, 31), date(2024, 2, 29), date(2023, 12, 30), date(2025, 3, 28)):
        for months in range(-30, 61):
            assert add_months(start=start, months=months) == reference.add_months(start=start, months=months)
    with pytest.raises(ValueError, match="year 10000 is out of range"):
        add_months(start=date(9999, 12, 31), months=1)


@settings(max_examples=500, deadline=None)
@given(st.dates(), st.dates())
def test_days_30_360_agrees_with_the_reference(start: date, end: date) -> None:
    assert days_30_360(start=start, end=end) == reference.days_30_360(start=start, end=end)


def test_rows_filled_through_their_slots_are_still_frozen_rows() -> None:
    row = build_schedule(
        terms=LoanTerms(currency="KES"),
        principal_minor=1_000_000,
        annual_interest_rate=Decimal("12"),
        number_of_repayments=3,
        disbursement_date=date(2025, 1, 31),
    ).rows[0]
    assert type(row) is ScheduleRow and hash(row) == hash(dataclasses.replace(row))
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.principal_minor = 1  # type: ignore[misc]
