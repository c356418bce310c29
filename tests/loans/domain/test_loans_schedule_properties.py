"""Property: for any valid terms, principal sums exactly and no balance ever goes negative."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

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
    build_schedule,
)
from shared.money import RoundingMode
from tests.loans.domain.kit import assert_reconciles


@st.composite
def loans(draw: st.DrawFn) -> tuple[LoanTerms, int, Decimal, int, date, date | None]:
    n = draw(st.integers(min_value=1, max_value=36))
    grace = st.integers(min_value=0, max_value=n - 1)
    balloon = draw(st.none() | st.decimals(min_value="0.01", max_value="99.99", places=2))
    bullet = balloon is None and draw(st.booleans())
    fee = Fee(
        "service",
        ChargeTiming.PER_INSTALLMENT,
        ChargeCalculation.PERCENT,
        percent=draw(st.decimals(min_value=0, max_value=5, places=2)),
    )
    loan_terms = LoanTerms(
        currency="KES",
        interest_method=draw(st.sampled_from(InterestMethod)),
        amortization=draw(st.sampled_from(Amortization)),
        interest_calculation_period=draw(st.sampled_from(InterestCalculationPeriod)),
        days_in_year=draw(st.sampled_from(DaysInYear)),
        days_in_month=draw(st.sampled_from(DaysInMonth)),
        repayment_frequency=draw(st.sampled_from(RepaymentFrequency)),
        repay_every=draw(st.integers(min_value=1, max_value=4)),
        installment_multiple_of_minor=draw(st.none() | st.sampled_from([1, 5, 100, 1_000, 10_000])),
        grace_on_principal_periods=draw(grace),
        grace_on_interest_payment_periods=draw(grace),
        grace_on_interest_charged_periods=draw(grace),
        principal_moratorium_every=draw(st.none() | st.integers(min_value=1, max_value=6)),
        bullet=bullet,
        balloon_percent=balloon,
        fees=(fee,),
        rounding_mode=draw(st.sampled_from(RoundingMode)),
    )
    # The schedule refuses an installment multiple larger than the principal (issue 9).
    principal = draw(st.integers(min_value=loan_terms.installment_multiple_of_minor or 1, max_value=10**12))
    rate = draw(st.decimals(min_value=0, max_value=120, places=3))
    disbursed = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)))
    first = draw(
        st.none() | st.integers(min_value=1, max_value=90).map(lambda d: disbursed + timedelta(days=d))
    )
    return loan_terms, principal, rate, n, disbursed, first


@settings(max_examples=400, deadline=None)
@given(loans())
def test_principal_sums_exactly_and_balances_never_go_negative(
    loan: tuple[LoanTerms, int, Decimal, int, date, date | None],
) -> None:
    loan_terms, principal, rate, n, disbursed, first = loan
    schedule = build_schedule(
        terms=loan_terms,
        principal_minor=principal,
        annual_interest_rate=rate,
        number_of_repayments=n,
        disbursement_date=disbursed,
        first_repayment_date=first,
    )
    assert len(schedule.rows) == n
    assert_reconciles(schedule)
