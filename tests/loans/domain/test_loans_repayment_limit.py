"""The most a repayment may be: everything the account owes plus a tolerance (issue 9).

The loan is ``small_loan`` (testkit): it owes 3,075.00 in all.
"""

from __future__ import annotations

from datetime import date

from services.loans.domain import LoanAccount, PenaltyCharge, Repayment, Transaction, WriteOff
from services.loans.domain.repayment_limit import (
    RepaymentSplit,
    acceptable_repayment_minor,
    split_repayment,
)
from tests.loans.domain.kit import small_loan

OWED = 307_500
FEB = date(2025, 2, 1)


def limit(*transactions: Transaction, tolerance: int = 100) -> int:
    account = LoanAccount(schedule=small_loan(), transactions=transactions)
    return acceptable_repayment_minor(account.state(), tolerance_minor=tolerance)


def test_a_fresh_loan_accepts_what_it_owes_plus_the_tolerance() -> None:
    assert limit() == OWED + 100
    assert limit(tolerance=0) == OWED


def test_repayments_and_penalties_move_the_limit() -> None:
    assert limit(Repayment(sequence=1, on=FEB, amount_minor=100_000)) == OWED - 100_000 + 100
    charged = PenaltyCharge(sequence=1, on=date(2025, 2, 2), installment_number=1, amount_minor=2_000)
    assert limit(charged) == OWED + 2_000 + 100


def test_a_credit_balance_uses_up_the_tolerance() -> None:
    assert limit(Repayment(sequence=1, on=FEB, amount_minor=OWED + 60)) == 40
    assert limit(Repayment(sequence=1, on=FEB, amount_minor=OWED + 60), tolerance=0) == 0


def test_after_a_write_off_what_was_written_off_and_not_recovered() -> None:
    paid = Repayment(sequence=1, on=FEB, amount_minor=100_000)
    written_off = WriteOff(sequence=2, on=date(2025, 3, 1))
    recovered = Repayment(sequence=3, on=date(2025, 3, 5), amount_minor=7_500)
    assert limit(paid, written_off, recovered) == OWED - 100_000 - 7_500 + 100


def test_a_split_accepts_up_to_the_limit() -> None:
    assert split_repayment(10**15, acceptable_minor=OWED) == RepaymentSplit(OWED, 10**15 - OWED)
    assert split_repayment(5, acceptable_minor=OWED).refused_minor == 0
    assert split_repayment(5, acceptable_minor=0).accepted_minor == 0
