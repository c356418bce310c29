"""Repayment, disbursement and write-off results leave the domain as Money."""

from __future__ import annotations

from datetime import date

from services.loans.domain import (
    Amortization,
    ChargeCalculation,
    ChargeTiming,
    Fee,
    LoanAccount,
    Repayment,
    WriteOff,
)
from services.loans.domain.outcomes import disbursement_of, write_off_outcome
from services.loans.domain.projection import project
from shared.money import Money
from tests.loans.domain.kit import build, small_loan, terms


def test_disbursement_withholds_the_disbursement_fees() -> None:
    origination = Fee("origination", ChargeTiming.DISBURSEMENT, ChargeCalculation.FLAT, amount_minor=1_500)
    schedule = small_loan()
    with_fee = build(
        terms(amortization=Amortization.EQUAL_PRINCIPAL, fees=(origination,)),
        principal=300_000,
        rate="12",
        n=3,
        disbursed=date(2025, 1, 1),
    )
    assert disbursement_of(schedule).fees == Money(0, "KES")
    paid_out = disbursement_of(with_fee)
    assert (paid_out.principal, paid_out.fees, paid_out.net) == (
        Money(300_000, "KES"),
        Money(1_500, "KES"),
        Money(298_500, "KES"),
    )
    assert (paid_out.installments, paid_out.maturity_date) == (3, date(2025, 4, 1))


def test_a_repayment_outcome_is_money_that_adds_up() -> None:
    repayment = Repayment(sequence=1, on=date(2025, 2, 1), amount_minor=110_000)
    account = LoanAccount(schedule=small_loan(), transactions=(repayment,))
    paid = project(account, as_of=date(2025, 2, 1)).repayment(1)
    assert paid.amount == Money(110_000, "KES")
    # installment 1 (500 fee + 3,000 interest + 100,000 principal), then 6,500 on installment 2
    assert paid.allocated.fee == Money(1_000, "KES")
    assert paid.allocated.interest == Money(5_000, "KES")
    assert paid.allocated.total + paid.overpayment + paid.recovery == paid.amount


def test_a_write_off_outcome_is_money() -> None:
    account = LoanAccount(schedule=small_loan(), transactions=(WriteOff(sequence=1, on=date(2025, 2, 1)),))
    written = write_off_outcome(account.state().written_off, "KES")
    assert written.total == Money(307_500, "KES")
    assert written.principal == Money(300_000, "KES")
