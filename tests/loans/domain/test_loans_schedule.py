"""Worked schedule examples: each one reads as documentation and reconciles to the minor unit.

Amounts are KES minor units (cents): 10_000_000 is KES 100,000.00. ``build`` (testkit) checks
on every schedule that principal sums exactly to the amount disbursed, balances run down to
zero without going negative and the totals are the sums of the rows.
"""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from services.loans.domain import (
    Amortization,
    ChargeCalculation,
    ChargeTiming,
    DaysInMonth,
    DaysInYear,
    Fee,
    InterestCalculationPeriod,
    InterestMethod,
    RepaymentFrequency,
)
from tests.loans.domain.kit import build, column, terms


def half_even(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def test_declining_balance_emi_matches_the_annuity_formula() -> None:
    # 100,000.00 at 12% a year, 12 monthly installments: r = 1% a month.
    # EMI = P r / (1 - (1 + r)^-12) = 8,884.8788... -> 8,884.88.
    r = Decimal("0.01")
    exact_emi = Decimal(10_000_000) * r / (1 - (1 + r) ** -12)
    assert exact_emi.quantize(Decimal("0.0001")) == Decimal("888487.8868")
    # With the unrounded EMI the total interest would be 12 x 8,884.8788 - 100,000 = 6,618.55;
    # a real schedule pays the rounded 8,884.88 and rounds each period's interest, so it
    # charges 6,618.53 and the last installment absorbs the residual (8,884.85).
    assert (12 * exact_emi - 10_000_000).quantize(Decimal(1)) == 661855

    schedule = build(terms(), principal=10_000_000, rate="12", n=12, disbursed=date(2025, 1, 1))

    assert schedule.level_installment_minor == 888_488
    assert column(schedule, "total_minor") == [888_488] * 11 + [888_485]
    assert schedule.rows[0].interest_minor == 100_000  # 1% of 100,000.00
    assert schedule.rows[0].principal_minor == 788_488
    assert schedule.rows[1].interest_minor == 92_115  # 1% of 92,115.12
    assert schedule.total_interest_minor == 661_853
    assert schedule.total_due_minor == 10_661_853

    # The standard amortization table, recomputed by hand: interest = round(balance x 1%).
    balance = 10_000_000
    for row in schedule.rows:
        interest = half_even(balance * r)
        assert row.interest_minor == interest
        principal = balance if row.number == 12 else 888_488 - interest
        assert row.principal_minor == principal
        balance -= principal


def test_flat_interest_is_principal_times_rate_times_term_spread_evenly() -> None:
    # 100,000.00 at 12% flat for 6 months: 100,000.00 x 12% x 0.5 = 6,000.00, 1,000.00 a month.
    # Installment = 100,000.00 / 6 + 1,000.00 = 17,666.67; the last takes the cent residual.
    schedule = build(terms(interest_method=InterestMethod.FLAT), n=6)
    assert column(schedule, "interest_minor") == [100_000] * 6
    assert schedule.total_interest_minor == 600_000
    assert schedule.level_installment_minor == 1_766_667
    assert column(schedule, "principal_minor") == [1_666_667] * 5 + [1_666_665]
    assert column(schedule, "total_minor") == [1_766_667] * 5 + [1_766_665]


def test_flat_interest_remainder_goes_to_the_last_installment() -> None:
    # 1,000.00 at 10% flat for 3 months: 25.00 total; 8.33 + 8.33 + 8.34.
    schedule = build(terms(interest_method=InterestMethod.FLAT), principal=100_000, rate="10", n=3)
    assert column(schedule, "interest_minor") == [833, 833, 834]
    assert schedule.total_interest_minor == 2_500


def test_daily_interest_uses_the_actual_days_of_each_period() -> None:
    # Interest = balance x 12% / 365 x days; Jan 15 -> Feb 15 is 31 days: 1,019.18.
    # The level installment uses a nominal 30-day month (Fineract): 12% x 30 / 365 a period.
    schedule = build(terms(interest_calculation_period=InterestCalculationPeriod.DAILY), n=6)
    assert [(r.due_date - r.from_date).days for r in schedule.rows] == [31, 28, 31, 30, 31, 30]
    assert schedule.rows[0].interest_minor == 101_918
    balance = 10_000_000
    for row in schedule.rows:
        days = (row.due_date - row.from_date).days
        assert row.interest_minor == half_even(balance * Decimal("0.12") * days / 365)
        balance -= row.principal_minor
    r = Decimal("0.12") * 30 / 365
    assert schedule.level_installment_minor == half_even(10_000_000 * r / (1 - (1 + r) ** -6))
    assert column(schedule, "total_minor")[:5] == [1_724_671] * 5


def test_daily_interest_with_360_day_year_and_30_day_months() -> None:
    # 30/360: every monthly period is 30 days, so the daily rule equals the monthly rule.
    daily = build(
        terms(
            interest_calculation_period=InterestCalculationPeriod.DAILY,
            days_in_year=DaysInYear.DAYS_360,
            days_in_month=DaysInMonth.DAYS_30,
        ),
        n=6,
    )
    monthly = build(terms(), n=6)
    assert column(daily, "interest_minor") == column(monthly, "interest_minor")


def test_equal_principal_amortization() -> None:
    # 100,000.00 / 6 = 16,666.67 of principal a month (last 16,666.65); interest on the balance.
    schedule = build(terms(amortization=Amortization.EQUAL_PRINCIPAL), n=6)
    assert schedule.level_installment_minor is None
    assert column(schedule, "principal_minor") == [1_666_667] * 5 + [1_666_665]
    assert column(schedule, "interest_minor") == [100_000, 83_333, 66_667, 50_000, 33_333, 16_667]
    assert schedule.total_interest_minor == 350_000


def test_equal_principal_ignores_the_installment_multiple() -> None:
    plain = build(terms(amortization=Amortization.EQUAL_PRINCIPAL), n=6)
    multiple = build(terms(amortization=Amortization.EQUAL_PRINCIPAL, installment_multiple_of_minor=100), n=6)
    assert column(plain, "principal_minor") == column(multiple, "principal_minor")


def test_grace_on_principal_with_interest_deferred_to_the_first_installment_after_grace() -> None:
    # Two months of grace on principal and on interest payment: nothing is due in months 1-2;
    # the interest of months 1-3 (3 x 1,000.00) is due in month 3; the EMI is recomputed over
    # the 4 principal-bearing months: 100,000.00 at 1% over 4 = 25,628.11.
    schedule = build(terms(grace_on_principal_periods=2, grace_on_interest_payment_periods=2), n=6)
    assert schedule.level_installment_minor == 2_562_811
    assert column(schedule, "total_minor")[:2] == [0, 0]
    assert column(schedule, "interest_minor") == [0, 0, 300_000, 75_372, 50_498, 25_374]
    assert column(schedule, "principal_minor") == [0, 0, 2_462_811, 2_487_439, 2_512_313, 2_537_437]
    assert column(schedule, "total_minor")[2:] == [2_762_811, 2_562_811, 2_562_811, 2_562_811]


def test_grace_on_principal_alone_is_interest_only() -> None:
    schedule = build(terms(grace_on_principal_periods=2), n=6)
    assert column(schedule, "total_minor")[:2] == [100_000, 100_000]
    assert column(schedule, "principal_minor")[:2] == [0, 0]


def test_grace_on_interest_charged_makes_periods_interest_free() -> None:
    schedule = build(terms(grace_on_interest_charged_periods=2), n=6)
    assert column(schedule, "interest_minor")[:2] == [0, 0]
    assert schedule.rows[2].interest_minor > 0


def test_bullet_pays_interest_every_period_and_all_principal_at_term() -> None:
    schedule = build(terms(bullet=True), n=6)
    assert column(schedule, "principal_minor") == [0] * 5 + [10_000_000]
    assert column(schedule, "interest_minor") == [100_000] * 6
    assert column(schedule, "balance_minor") == [10_000_000] * 5 + [0]


def test_bullet_with_interest_at_term() -> None:
    # Interest payment grace over all but the last period defers every interest to term.
    schedule = build(terms(bullet=True, grace_on_interest_payment_periods=5), n=6)
    assert column(schedule, "total_minor") == [0] * 5 + [10_600_000]


def test_balloon_keeps_its_share_for_the_last_installment() -> None:
    # 40% balloon: the EMI amortizes 100,000.00 down to 40,000.00 over 6 months.
    schedule = build(terms(balloon_percent=Decimal(40)), n=6)
    r = Decimal("0.01")
    emi = (10_000_000 - 4_000_000 * (1 + r) ** -6) * r / (1 - (1 + r) ** -6)
    assert schedule.level_installment_minor == half_even(emi) == 1_075_290
    assert column(schedule, "total_minor")[:5] == [1_075_290] * 5
    assert schedule.rows[-2].balance_minor == 5_025_041
    last = schedule.rows[-1]
    assert last.principal_minor == 5_025_041  # the 40,000.00 balloon + the last regular share
    assert last.principal_minor >= 4_000_000


def test_month_end_due_dates_anchor_to_the_first_due_date() -> None:
    # Disbursed Dec 31, first due Jan 31: Feb 29 (2024 is a leap year), then back to Mar 31.
    schedule = build(terms(), n=5, disbursed=date(2023, 12, 31))
    assert column(schedule, "due_date") == [
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
        date(2024, 5, 31),
    ]
    explicit = build(terms(), n=4, disbursed=date(2024, 12, 20), first=date(2025, 1, 31))
    assert column(explicit, "due_date") == [
        date(2025, 1, 31),
        date(2025, 2, 28),
        date(2025, 3, 31),
        date(2025, 4, 30),
    ]


def test_disbursed_on_the_31st_stays_on_month_ends() -> None:
    schedule = build(terms(), n=3, disbursed=date(2025, 1, 31))
    assert column(schedule, "due_date") == [date(2025, 2, 28), date(2025, 3, 31), date(2025, 4, 30)]


def test_irregular_first_period_is_charged_pro_rata() -> None:
    # Jan 1 -> Feb 15 is 45 days; a regular month ending Feb 15 has 31: 1% x 45/31.
    schedule = build(terms(), n=3, disbursed=date(2025, 1, 1), first=date(2025, 2, 15))
    assert schedule.rows[0].interest_minor == half_even(Decimal(10_000_000) / 100 * 45 / 31)
    assert schedule.rows[1].interest_minor == half_even(schedule.rows[0].balance_minor * Decimal("0.01"))


def test_installment_multiple_of_100() -> None:
    # EMI 17,254.84 rounds (half-even) to a multiple of 1.00: 17,255.00; the last absorbs.
    schedule = build(terms(installment_multiple_of_minor=100), n=6)
    assert schedule.level_installment_minor == 1_725_500
    totals = column(schedule, "total_minor")
    assert all(t % 100 == 0 for t in totals[:-1])
    assert totals == [1_725_500] * 5 + [1_725_399]


def test_moratorium_every_third_period_for_a_seasonal_crop() -> None:
    # Principal is due only at harvests (months 3, 6, 9); interest is due every month.
    schedule = build(terms(principal_moratorium_every=3), n=9)
    principal = column(schedule, "principal_minor")
    assert [i + 1 for i, p in enumerate(principal) if p] == [3, 6, 9]
    assert all(i > 0 for i in column(schedule, "interest_minor"))
    # The harvest installment is level: an annuity over the 3 principal-bearing periods.
    assert column(schedule, "total_minor")[2::3] == [3_400_221, 3_400_221, 3_400_222]
    assert column(schedule, "interest_minor")[:3] == [100_000] * 3


def test_weekly_periods_use_52_periods_a_year() -> None:
    schedule = build(
        terms(repayment_frequency=RepaymentFrequency.WEEKS, repay_every=2),
        principal=1_000_000,
        rate="26",
        n=4,
        disbursed=date(2025, 3, 3),
    )
    # 26% / 52 x 2 = 1% a fortnight.
    assert schedule.rows[0].interest_minor == 10_000
    assert column(schedule, "due_date") == [
        date(2025, 3, 17),
        date(2025, 3, 31),
        date(2025, 4, 14),
        date(2025, 4, 28),
    ]


def test_fees_at_disbursement_and_per_installment() -> None:
    fees = (
        Fee("processing", ChargeTiming.DISBURSEMENT, ChargeCalculation.PERCENT, percent=Decimal(2)),
        Fee("sms", ChargeTiming.PER_INSTALLMENT, ChargeCalculation.FLAT, amount_minor=5_000),
        Fee("insurance", ChargeTiming.PER_INSTALLMENT, ChargeCalculation.PERCENT, percent=Decimal(1)),
    )
    schedule = build(terms(fees=fees), n=3)
    assert schedule.disbursement_fees_minor == 200_000
    # 50.00 sms + 1% of the installment's principal.
    assert column(schedule, "fee_minor") == [
        5_000 + half_even(Decimal(p) / 100) for p in column(schedule, "principal_minor")
    ]
    assert schedule.total_fee_minor == sum(column(schedule, "fee_minor"))


def test_zero_interest_rate() -> None:
    schedule = build(terms(), principal=1_000, rate="0", n=3)
    assert column(schedule, "principal_minor") == [333, 333, 334]
    assert schedule.total_interest_minor == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"principal_minor": 0}, "principal_minor"),
        ({"number_of_repayments": 0}, "number_of_repayments"),
        ({"first_repayment_date": date(2025, 1, 15)}, "first_repayment_date"),
        ({"annual_interest_rate": Decimal(-1)}, "annual_interest_rate"),
        ({"annual_interest_rate": 12.0}, "annual_interest_rate"),
    ],
)
def test_build_schedule_rejects_bad_input(kwargs: dict[str, object], message: str) -> None:
    from services.loans.domain import build_schedule

    arguments: dict[str, object] = {
        "terms": terms(),
        "principal_minor": 1_000_000,
        "annual_interest_rate": Decimal(12),
        "number_of_repayments": 6,
        "disbursement_date": date(2025, 1, 15),
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        build_schedule(**arguments)  # type: ignore[arg-type]


def test_grace_must_leave_a_repayment() -> None:
    with pytest.raises(ValueError, match="grace_on_principal_periods"):
        build(terms(grace_on_principal_periods=6), n=6)
