"""Calendar arithmetic for repayment periods: month clamping, anchored due dates, day counts."""

from __future__ import annotations

from datetime import date, timedelta

from services.loans.domain.terms import DaysInMonth, RepaymentFrequency

_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def month_length(year: int, month: int) -> int:
    """Days in ``month`` (1-12) of ``year``, Gregorian leap years (``calendar.monthrange``'s count)."""
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _MONTH_DAYS[month]


def add_months(*, start: date, months: int) -> date:
    """``start`` plus ``months`` calendar months, clamped to the end of a shorter month."""
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    day = start.day
    if day > 28:
        day = min(day, month_length(year, month + 1))
    return date(year, month + 1, day)


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
        if value.day < 28:
            return value.day
        return 30 if value.day == month_length(value.year, value.month) or value.day > 30 else value.day

    return (end.year - start.year) * 360 + (end.month - start.month) * 30 + (day(end) - day(start))


def interest_days(
    *, start: date, end: date, frequency: RepaymentFrequency, days_in_month: DaysInMonth
) -> int:
    """Interest days between two dates: 30-day months for monthly loans on ``DAYS_30``."""
    if frequency is RepaymentFrequency.MONTHS and days_in_month is DaysInMonth.DAYS_30:
        return days_30_360(start=start, end=end)
    return (end - start).days
