"""Shared helpers for the loans domain tests: terms, schedule building, reconciliation."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import Any

from services.loans.domain import LoanTerms, Schedule, build_schedule


def terms(**overrides: Any) -> LoanTerms:
    """KES monthly declining-balance equal-installment terms, with ``overrides``."""
    return LoanTerms(**{"currency": "KES", **overrides})


def build(
    loan_terms: LoanTerms,
    *,
    principal: int = 10_000_000,
    rate: str = "12",
    n: int = 12,
    disbursed: date = date(2025, 1, 15),
    first: date | None = None,
) -> Schedule:
    """Build a schedule and check it reconciles before handing it back."""
    schedule = build_schedule(
        terms=loan_terms,
        principal_minor=principal,
        annual_interest_rate=Decimal(rate),
        number_of_repayments=n,
        disbursement_date=disbursed,
        first_repayment_date=first,
    )
    assert_reconciles(schedule)
    return schedule


def assert_reconciles(schedule: Schedule) -> None:
    """Principal sums to the amount disbursed; balances run down to zero; totals are Σ rows."""
    rows = schedule.rows
    assert sum(r.principal_minor for r in rows) == schedule.principal_minor
    assert schedule.total_principal_minor == schedule.principal_minor
    balance = schedule.principal_minor
    for row in rows:
        assert min(row.principal_minor, row.interest_minor, row.fee_minor, row.penalty_minor) >= 0
        assert row.total_minor == (
            row.principal_minor + row.interest_minor + row.fee_minor + row.penalty_minor
        )
        balance -= row.principal_minor
        assert row.balance_minor == balance >= 0
    assert rows[-1].balance_minor == 0
    assert schedule.total_interest_minor == sum(r.interest_minor for r in rows)
    assert schedule.total_fee_minor == sum(r.fee_minor for r in rows)
    assert schedule.total_due_minor == sum(r.total_minor for r in rows)
    assert [r.number for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0].from_date == schedule.disbursement_date
    for earlier, later in pairwise(rows):
        assert later.from_date == earlier.due_date < later.due_date


def column(schedule: Schedule, name: str) -> list[int]:
    """One column of the schedule, e.g. ``column(s, "principal_minor")``."""
    return [getattr(row, name) for row in schedule.rows]


def small_loan(**overrides: Any) -> Schedule:
    """KES 3,000.00, 12% a year, equal principal over 3 months, a 5.00 fee per installment.

    Disbursed 2025-01-01. Installments (principal + interest + fee):
      1. due 2025-02-01: 1,000.00 + 30.00 + 5.00 = 1,035.00
      2. due 2025-03-01: 1,000.00 + 20.00 + 5.00 = 1,025.00
      3. due 2025-04-01: 1,000.00 + 10.00 + 5.00 = 1,015.00      total 3,075.00
    """
    from services.loans.domain import Amortization, ChargeCalculation, ChargeTiming, Fee

    fee = Fee("service", ChargeTiming.PER_INSTALLMENT, ChargeCalculation.FLAT, amount_minor=500)
    loan_terms = terms(amortization=Amortization.EQUAL_PRINCIPAL, fees=(fee,), **overrides)
    return build(loan_terms, principal=300_000, rate="12", n=3, disbursed=date(2025, 1, 1))
