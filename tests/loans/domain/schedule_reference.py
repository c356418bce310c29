"""A straightforward reference for the schedule engine: the builder as it was before it was tuned
for throughput (issue 13), kept verbatim so that ``test_loans_schedule_reference`` can compare the
tuned ``build_schedule`` with it, row by row and refusal by refusal, over many random terms.

Clarity over speed here; never import it from the service.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Context, Decimal, localcontext

from services.loans.domain.schedule import Schedule, ScheduleRow
from services.loans.domain.terms import (
    Amortization,
    ChargeCalculation,
    ChargeTiming,
    DaysInMonth,
    InterestCalculationPeriod,
    InterestMethod,
    LoanTerms,
    RepaymentFrequency,
)
from shared.money import RoundingMode, round_decimal


def add_months(*, start: date, months: int) -> date:
    """``start`` plus ``months`` calendar months, clamped to the end of a shorter month."""
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    last_day = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(start.day, last_day))


def add_periods(*, anchor: date, periods: int, frequency: RepaymentFrequency, repay_every: int) -> date:
    """``anchor`` plus ``periods`` repayment periods, computed from the anchor (never iteratively).

    Anchoring every date to one date keeps a Jan 31 loan on month ends (Feb 28, Mar 31, Apr 30)
    instead of drifting to the 28th after February.
    """
    if frequency is RepaymentFrequency.MONTHS:
        return add_months(start=anchor, months=periods * repay_every)
    if frequency is RepaymentFrequency.WEEKS:
        return anchor + timedelta(weeks=periods * repay_every)
    return anchor + timedelta(days=periods * repay_every)


def days_30_360(*, start: date, end: date) -> int:
    """Day count with 30-day months (30E/360 ISDA: a month's last day counts as its 30th)."""

    def day(value: date) -> int:
        last = calendar.monthrange(value.year, value.month)[1]
        return 30 if value.day == last or value.day > 30 else value.day

    return (end.year - start.year) * 360 + (end.month - start.month) * 30 + (day(end) - day(start))


def interest_days(
    *, start: date, end: date, frequency: RepaymentFrequency, days_in_month: DaysInMonth
) -> int:
    """Interest days between two dates: 30-day months for monthly loans on ``DAYS_30``."""
    if frequency is RepaymentFrequency.MONTHS and days_in_month is DaysInMonth.DAYS_30:
        return days_30_360(start=start, end=end)
    return (end - start).days


_HUNDRED = Decimal(100)
_CONTEXT = Context(prec=34)


def _round_to_multiple(value: Decimal, *, multiple: int | None, mode: RoundingMode) -> int:
    step = multiple or 1
    return round_decimal(value / step, mode) * step


def _annuity(*, principal: int, rate: Decimal, periods: int, future_value: int) -> Decimal:
    """Level payment that amortizes ``principal`` down to ``future_value`` over ``periods``."""
    if rate == 0:
        return Decimal(principal - future_value) / periods
    discount = (1 + rate) ** -periods
    return (principal - future_value * discount) * rate / (1 - discount)


def _due_dates(
    *, terms: LoanTerms, count: int, disbursement_date: date, first_repayment_date: date | None
) -> list[date]:
    if first_repayment_date is None:
        anchor, offset = disbursement_date, 1
    else:
        anchor, offset = first_repayment_date, 0
    return [
        add_periods(
            anchor=anchor,
            periods=k + offset,
            frequency=terms.repayment_frequency,
            repay_every=terms.repay_every,
        )
        for k in range(count)
    ]


def _principal_bearing(terms: LoanTerms, count: int) -> list[bool]:
    """Index k-1 says whether period k carries principal; the last period always does."""
    every = terms.principal_moratorium_every
    bearing = [
        not terms.bullet and k > terms.grace_on_principal_periods and (every is None or k % every == 0)
        for k in range(1, count + 1)
    ]
    bearing[-1] = True
    return bearing


def _nominal_days(terms: LoanTerms) -> int:
    if terms.repayment_frequency is RepaymentFrequency.MONTHS:
        return 30 * terms.repay_every
    if terms.repayment_frequency is RepaymentFrequency.WEEKS:
        return 7 * terms.repay_every
    return terms.repay_every


def _period_rates(
    *, terms: LoanTerms, rate: Decimal, dates: list[tuple[date, date]], broken_first: bool
) -> list[Decimal]:
    """Interest rate applied to the balance in each period (before graces)."""
    if terms.interest_calculation_period is InterestCalculationPeriod.DAILY:
        per_day = rate / terms.days_in_year.days
        return [
            per_day
            * interest_days(
                start=start,
                end=end,
                frequency=terms.repayment_frequency,
                days_in_month=terms.days_in_month,
            )
            for start, end in dates
        ]
    nominal = rate / terms.periods_per_year * terms.repay_every
    rates = [nominal] * len(dates)
    if broken_first:
        start, end = dates[0]
        regular_start = add_periods(
            anchor=end,
            periods=-1,
            frequency=terms.repayment_frequency,
            repay_every=terms.repay_every,
        )
        rates[0] = nominal * Decimal((end - start).days) / Decimal((end - regular_start).days)
    return rates


def _fees(terms: LoanTerms, principal: int, timing: ChargeTiming) -> int:
    """The fees of ``terms`` charged at ``timing``; a percentage is of ``principal``."""
    fee = 0
    for charge in terms.fees:
        if charge.timing is not timing:
            continue
        if charge.calculation is ChargeCalculation.FLAT:
            fee += charge.amount_minor
        else:
            fee += round_decimal(principal * charge.percent / _HUNDRED, terms.rounding_mode)
    return fee


def _flat_interest(*, terms: LoanTerms, principal: int, rates: list[Decimal]) -> list[int]:
    """Flat interest per period: the term's total spread evenly over the charged periods."""
    grace = terms.grace_on_interest_charged_periods
    charged = rates[grace:]
    total = round_decimal(principal * sum(charged, Decimal(0)), terms.rounding_mode)
    each = round_decimal(Decimal(total) / len(charged), terms.rounding_mode)
    spread = [each] * (len(charged) - 1) + [total - each * (len(charged) - 1)]
    if spread[-1] < 0:  # only when ``each`` rounded up on a tiny total: give it all to the last
        spread = [0] * (len(charged) - 1) + [total]
    return [0] * grace + spread


def reference_build_schedule(
    *,
    terms: LoanTerms,
    principal_minor: int,
    annual_interest_rate: Decimal,
    number_of_repayments: int,
    disbursement_date: date,
    first_repayment_date: date | None = None,
) -> Schedule:
    """Build the repayment schedule of a loan (see the module docstring for the rules)."""
    if isinstance(principal_minor, bool) or not isinstance(principal_minor, int) or principal_minor <= 0:
        raise ValueError("principal_minor must be a positive int")
    if not isinstance(annual_interest_rate, Decimal) or not annual_interest_rate.is_finite():
        raise ValueError("annual_interest_rate must be a finite Decimal (percent)")
    if annual_interest_rate < 0:
        raise ValueError("annual_interest_rate must not be negative")
    terms.check_repayments(number_of_repayments=number_of_repayments)
    if first_repayment_date is not None and first_repayment_date <= disbursement_date:
        raise ValueError("first_repayment_date must be after disbursement_date")
    multiple = terms.installment_multiple_of_minor
    if multiple is not None and multiple > principal_minor:
        raise ValueError(
            f"installment_multiple_of_minor ({multiple}) must not be larger than the principal "
            f"({principal_minor})"
        )
    with localcontext(_CONTEXT):
        return _build(
            terms=terms,
            principal=principal_minor,
            annual=annual_interest_rate,
            count=number_of_repayments,
            disbursed=disbursement_date,
            first=first_repayment_date,
        )


def _build(
    *,
    terms: LoanTerms,
    principal: int,
    annual: Decimal,
    count: int,
    disbursed: date,
    first: date | None,
) -> Schedule:
    mode = terms.rounding_mode
    rate = annual / _HUNDRED
    dues = _due_dates(terms=terms, count=count, disbursement_date=disbursed, first_repayment_date=first)
    periods = list(zip([disbursed, *dues[:-1]], dues, strict=True))
    broken_first = first is not None and first != add_periods(
        anchor=disbursed,
        periods=1,
        frequency=terms.repayment_frequency,
        repay_every=terms.repay_every,
    )
    rates = _period_rates(terms=terms, rate=rate, dates=periods, broken_first=broken_first)
    bearing = _principal_bearing(terms, count)
    bearing_count = sum(bearing)
    balloon = 0
    if terms.balloon_percent is not None:
        balloon = round_decimal(principal * terms.balloon_percent / _HUNDRED, mode)
    flat = terms.interest_method is InterestMethod.FLAT
    flat_interest = _flat_interest(terms=terms, principal=principal, rates=rates) if flat else []

    level: int | None = None
    if terms.amortization is Amortization.EQUAL_INSTALLMENTS and not terms.bullet:
        if flat:
            charged_periods = count - terms.grace_on_interest_charged_periods
            exact = (
                Decimal(principal - balloon) / bearing_count + Decimal(sum(flat_interest)) / charged_periods
            )
        else:
            emi_rate = rate / terms.periods_per_year * terms.repay_every
            if terms.interest_calculation_period is InterestCalculationPeriod.DAILY:
                emi_rate = rate / terms.days_in_year.days * _nominal_days(terms)
            exact = _annuity(principal=principal, rate=emi_rate, periods=bearing_count, future_value=balloon)
        level = _round_to_multiple(exact, multiple=terms.installment_multiple_of_minor, mode=mode)
    equal_principal = round_decimal(Decimal(principal - balloon) / bearing_count, mode)

    rows: list[ScheduleRow] = []
    balance = principal
    deferred = 0
    for k, ((start, end), period_rate) in enumerate(zip(periods, rates, strict=True), start=1):
        if k <= terms.grace_on_interest_charged_periods:
            charged = 0
        elif flat:
            charged = flat_interest[k - 1]
        else:
            charged = round_decimal(balance * period_rate, mode)
        if k <= terms.grace_on_interest_payment_periods:
            deferred, interest = deferred + charged, 0
        else:
            deferred, interest = 0, deferred + charged
        if not bearing[k - 1]:
            paid_principal = 0
        elif k == count:
            paid_principal = balance
        else:
            target = level - charged if level is not None else equal_principal
            paid_principal = min(max(target, 0), max(balance - balloon, 0))
        balance -= paid_principal
        fee = _fees(terms, paid_principal, ChargeTiming.PER_INSTALLMENT)
        rows.append(
            ScheduleRow(
                number=k,
                from_date=start,
                due_date=end,
                principal_minor=paid_principal,
                interest_minor=interest,
                fee_minor=fee,
                penalty_minor=0,
                total_minor=paid_principal + interest + fee,
                balance_minor=balance,
            )
        )
    return Schedule(
        terms=terms,
        principal_minor=principal,
        annual_interest_rate=annual,
        disbursement_date=disbursed,
        rows=tuple(rows),
        disbursement_fees_minor=_fees(terms, principal, ChargeTiming.DISBURSEMENT),
        level_installment_minor=level,
    )
