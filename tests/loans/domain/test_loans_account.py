"""Loan-account replay: allocation order, back-dating, reversals, overpayment, closure, write-off.

The loan is ``small_loan`` (testkit): three installments of 1,035.00, 1,025.00 and 1,015.00
due on Feb 1, Mar 1 and Apr 1 2025.
"""

from __future__ import annotations

from datetime import date

import pytest

from services.loans.domain import (
    AccountStatus,
    Components,
    LoanAccount,
    PenaltyCharge,
    Repayment,
    Reversal,
    WriteOff,
    replay_account,
)
from tests.loans.domain.kit import column, small_loan


def test_the_small_loan_is_what_the_testkit_says() -> None:
    schedule = small_loan()
    assert column(schedule, "total_minor") == [103_500, 102_500, 101_500]
    assert column(schedule, "interest_minor") == [3_000, 2_000, 1_000]


def test_repayment_pays_penalties_then_fees_then_interest_then_principal() -> None:
    account = LoanAccount(
        schedule=small_loan(),
        transactions=(
            PenaltyCharge(sequence=1, on=date(2025, 2, 2), installment_number=1, amount_minor=1_000),
            Repayment(sequence=2, on=date(2025, 2, 10), amount_minor=5_000),
        ),
    )
    (allocation,) = account.state().allocations
    assert allocation.allocated == Components(
        penalty_minor=1_000, fee_minor=500, interest_minor=3_000, principal_minor=500
    )
    assert allocation.by_installment == ((1, allocation.allocated),)
    assert account.state().installments[0].outstanding == Components(principal_minor=99_500)


def test_a_configured_allocation_order_is_respected() -> None:
    account = LoanAccount(
        schedule=small_loan(allocation_order=("principal", "interest", "fee", "penalty")),
        transactions=(Repayment(sequence=1, on=date(2025, 2, 1), amount_minor=5_000),),
    )
    assert account.state().allocations[0].allocated == Components(principal_minor=5_000)


def test_oldest_installment_is_settled_first_then_the_next_one() -> None:
    # 1,100.00 settles installment 1 (1,035.00); the 65.00 left goes to installment 2 in
    # order: fee 5.00, interest 20.00, principal 40.00.
    account = LoanAccount(
        schedule=small_loan(),
        transactions=(Repayment(sequence=1, on=date(2025, 2, 1), amount_minor=110_000),),
    )
    state = account.state()
    allocation = state.allocations[0]
    assert allocation.by_installment == (
        (1, Components(fee_minor=500, interest_minor=3_000, principal_minor=100_000)),
        (2, Components(fee_minor=500, interest_minor=2_000, principal_minor=4_000)),
    )
    assert state.installments[0].settled_on == date(2025, 2, 1)
    assert state.installments[1].settled_on is None
    assert state.outstanding.total_minor == 307_500 - 110_000
    assert state.status is AccountStatus.ACTIVE


def test_back_dated_repayment_reallocates_later_repayments() -> None:
    recorded_first = Repayment(sequence=1, on=date(2025, 3, 1), amount_minor=103_500)
    account = LoanAccount(schedule=small_loan(), transactions=(recorded_first,))
    assert account.state().allocations[0].by_installment[0][0] == 1

    # A repayment made on Feb 1 is recorded late (sequence 2) with its real date.
    account = account.with_transactions(Repayment(sequence=2, on=date(2025, 2, 1), amount_minor=103_500))
    allocations = {a.sequence: a for a in account.state().allocations}
    assert [a.sequence for a in account.state().allocations] == [2, 1]
    assert [n for n, _ in allocations[2].by_installment] == [1]
    # The Mar 1 repayment now pays installment 2 in full and 10.00 of installment 3's fee
    # and interest: 1,035.00 - 1,025.00 = 10.00 -> fee 5.00, interest 5.00.
    assert allocations[1].by_installment == (
        (2, Components(fee_minor=500, interest_minor=2_000, principal_minor=100_000)),
        (3, Components(fee_minor=500, interest_minor=500)),
    )


def test_same_day_transactions_replay_in_sequence_order() -> None:
    account = LoanAccount(
        schedule=small_loan(),
        transactions=(
            Repayment(sequence=7, on=date(2025, 2, 1), amount_minor=1_000),
            Repayment(sequence=3, on=date(2025, 2, 1), amount_minor=500),
        ),
    )
    first, second = account.state().allocations
    assert (first.sequence, first.allocated) == (3, Components(fee_minor=500))
    assert (second.sequence, second.allocated) == (7, Components(interest_minor=1_000))


def test_reversal_excludes_the_repayment_but_keeps_it_on_record() -> None:
    payment = Repayment(sequence=1, on=date(2025, 2, 1), amount_minor=103_500)
    account = LoanAccount(
        schedule=small_loan(),
        transactions=(payment, Reversal(sequence=2, on=date(2025, 2, 3), reverses=1)),
    )
    assert payment in account.transactions
    state = account.state()
    assert state.allocations == ()
    assert state.outstanding.total_minor == 307_500
    # Seen as of Feb 2 the reversal had not happened yet.
    assert account.state(as_of=date(2025, 2, 2)).installments[0].is_settled


def test_overpayment_leaves_a_credit_balance() -> None:
    account = LoanAccount(
        schedule=small_loan(),
        transactions=(Repayment(sequence=1, on=date(2025, 2, 1), amount_minor=320_000),),
    )
    state = account.state()
    assert state.status is AccountStatus.OVERPAID
    assert state.credit_balance_minor == 320_000 - 307_500
    assert state.allocations[0].overpayment_minor == 12_500
    assert state.outstanding.total_minor == 0


def test_a_credit_pays_a_penalty_charged_after_it_from_the_oldest_overpayment_first() -> None:
    # Two overpayments of 50.00 each (credit 100.00); a 70.00 penalty on installment 2 takes
    # all 50.00 of the first one's credit and 20.00 of the second's, on the charge date.
    account = LoanAccount(
        schedule=small_loan(),
        transactions=(
            Repayment(sequence=1, on=date(2025, 2, 1), amount_minor=312_500),
            Repayment(sequence=2, on=date(2025, 2, 5), amount_minor=5_000),
            PenaltyCharge(sequence=3, on=date(2025, 3, 2), installment_number=2, amount_minor=7_000),
        ),
    )
    before = account.state(as_of=date(2025, 3, 1))
    assert before.status is AccountStatus.OVERPAID and before.credit_balance_minor == 10_000
    state = account.state()
    assert state.status is AccountStatus.OVERPAID
    assert state.credit_balance_minor == 3_000
    assert state.outstanding == Components()
    assert state.installments[1].paid.penalty_minor == 7_000
    assert state.installments[1].settled_on == date(2025, 3, 2)
    first, second = state.allocations
    assert first.overpayment_minor == 0 and second.overpayment_minor == 3_000
    assert first.by_installment[1] == (
        2,
        Components(penalty_minor=5_000, fee_minor=500, interest_minor=2_000, principal_minor=100_000),
    )
    assert second.by_installment == ((2, Components(penalty_minor=2_000)),)
    for allocation in state.allocations:
        assert allocation.allocated.total_minor + allocation.overpayment_minor == allocation.amount_minor
        assert allocation.allocated == sum((c for _, c in allocation.by_installment), Components())


def test_a_penalty_larger_than_the_credit_takes_it_all_and_the_rest_is_owed() -> None:
    account = LoanAccount(
        schedule=small_loan(),
        transactions=(
            Repayment(sequence=1, on=date(2025, 2, 1), amount_minor=308_000),
            PenaltyCharge(sequence=2, on=date(2025, 2, 2), installment_number=1, amount_minor=1_000),
        ),
    )
    state = account.state()
    assert state.status is AccountStatus.ACTIVE
    assert state.credit_balance_minor == 0
    assert state.outstanding == Components(penalty_minor=500)
    assert state.installments[0].settled_on is None
    assert state.allocations[0].allocated.penalty_minor == 500
    assert state.allocations[0].overpayment_minor == 0


def test_reversing_the_penalty_gives_the_credit_back() -> None:
    account = LoanAccount(
        schedule=small_loan(),
        transactions=(
            Repayment(sequence=1, on=date(2025, 2, 1), amount_minor=320_000),
            PenaltyCharge(sequence=2, on=date(2025, 2, 2), installment_number=1, amount_minor=1_000),
            Reversal(sequence=3, on=date(2025, 2, 3), reverses=2),
        ),
    )
    assert account.state(as_of=date(2025, 2, 2)).credit_balance_minor == 11_500
    state = account.state()
    assert state.credit_balance_minor == 12_500
    assert state.allocations[0].overpayment_minor == 12_500
    assert state.allocations[0].allocated.penalty_minor == 0


def test_a_credit_pays_nothing_after_a_write_off() -> None:
    account = LoanAccount(
        schedule=small_loan(),
        transactions=(
            Repayment(sequence=1, on=date(2025, 2, 1), amount_minor=320_000),
            WriteOff(sequence=2, on=date(2025, 2, 2)),
            PenaltyCharge(sequence=3, on=date(2025, 2, 3), installment_number=1, amount_minor=1_000),
        ),
    )
    state = account.state()
    assert state.status is AccountStatus.WRITTEN_OFF
    assert state.credit_balance_minor == 12_500
    assert state.installments[0].paid.penalty_minor == 0


def test_paying_every_installment_closes_the_loan() -> None:
    schedule = small_loan()
    payments = [
        Repayment(sequence=n, on=row.due_date, amount_minor=row.total_minor)
        for n, row in enumerate(schedule.rows, start=1)
    ]
    account = LoanAccount(schedule=schedule, transactions=tuple(payments))
    assert account.state(as_of=date(2025, 3, 31)).status is AccountStatus.ACTIVE
    state = account.state()
    assert state.status is AccountStatus.CLOSED
    assert state.paid == Components(fee_minor=1_500, interest_minor=6_000, principal_minor=300_000)
    assert account.outstanding_principal_minor() == 0


def test_write_off_moves_the_outstanding_and_later_money_is_a_recovery() -> None:
    account = LoanAccount(
        schedule=small_loan(),
        transactions=(
            Repayment(sequence=1, on=date(2025, 2, 1), amount_minor=103_500),
            WriteOff(sequence=2, on=date(2025, 6, 30)),
            Repayment(sequence=3, on=date(2025, 7, 15), amount_minor=20_000),
        ),
    )
    state = account.state()
    assert state.status is AccountStatus.WRITTEN_OFF
    assert state.written_off == Components(fee_minor=1_000, interest_minor=3_000, principal_minor=200_000)
    assert state.outstanding == Components()
    assert state.recovered_minor == 20_000
    assert state.allocations[-1].recovery_minor == 20_000
    assert account.days_past_due(as_of=date(2025, 8, 1)) == 0


def test_reversing_a_write_off_restores_the_loan() -> None:
    account = LoanAccount(
        schedule=small_loan(),
        transactions=(
            WriteOff(sequence=1, on=date(2025, 6, 30)),
            Reversal(sequence=2, on=date(2025, 7, 1), reverses=1),
        ),
    )
    assert account.state().status is AccountStatus.ACTIVE


@pytest.mark.parametrize(
    ("transactions", "message"),
    [
        (
            (
                Repayment(sequence=1, on=date(2025, 2, 1), amount_minor=1),
                Repayment(sequence=1, on=date(2025, 2, 2), amount_minor=1),
            ),
            "duplicate",
        ),
        ((Reversal(sequence=2, on=date(2025, 2, 1), reverses=9),), "unknown"),
        (
            (
                Repayment(sequence=1, on=date(2025, 2, 1), amount_minor=1),
                Reversal(sequence=2, on=date(2025, 2, 1), reverses=1),
                Reversal(sequence=3, on=date(2025, 2, 1), reverses=2),
            ),
            "another reversal",
        ),
        (
            (
                Repayment(sequence=1, on=date(2025, 2, 1), amount_minor=1),
                Reversal(sequence=2, on=date(2025, 2, 1), reverses=1),
                Reversal(sequence=3, on=date(2025, 2, 1), reverses=1),
            ),
            "twice",
        ),
        (
            (
                Repayment(sequence=1, on=date(2025, 2, 5), amount_minor=1),
                Reversal(sequence=2, on=date(2025, 2, 1), reverses=1),
            ),
            "before",
        ),
    ],
)
def test_inconsistent_transactions_are_refused(transactions: tuple[object, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LoanAccount(schedule=small_loan(), transactions=transactions)  # type: ignore[arg-type]


def test_penalty_on_an_unknown_installment_is_refused() -> None:
    charge = PenaltyCharge(sequence=1, on=date(2025, 2, 2), installment_number=4, amount_minor=1)
    with pytest.raises(ValueError, match="installment 4"):
        replay_account(schedule=small_loan(), transactions=[charge])


@pytest.mark.parametrize("amount", [0, -5])
def test_repayments_must_be_positive(amount: int) -> None:
    with pytest.raises(ValueError, match="amount_minor"):
        Repayment(sequence=1, on=date(2025, 2, 1), amount_minor=amount)
