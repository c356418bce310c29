"""Properties of the replay: money is conserved, a credit never stands beside an amount owed
(penalties charged after it included), and recording order does not matter."""

from __future__ import annotations

import random
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.loans.domain import Components, LoanAccount, PenaltyCharge, Repayment, Reversal, Transaction
from tests.loans.domain.kit import small_loan

SCHEDULE = small_loan()


@st.composite
def histories(draw: st.DrawFn) -> list[Transaction]:
    payments = draw(st.lists(st.tuples(st.integers(0, 150), st.integers(1, 150_000)), min_size=0, max_size=8))
    txns: list[Transaction] = [
        Repayment(sequence=i, on=date(2025, 1, 2) + timedelta(days=day), amount_minor=amount)
        for i, (day, amount) in enumerate(payments)
    ]
    penalties = draw(
        st.lists(st.tuples(st.integers(0, 150), st.integers(1, 3), st.integers(1, 20_000)), max_size=4)
    )
    txns += [
        PenaltyCharge(
            sequence=50 + i, on=date(2025, 1, 2) + timedelta(days=day), installment_number=n, amount_minor=a
        )
        for i, (day, n, a) in enumerate(penalties)
    ]
    reversed_ids = draw(st.sets(st.sampled_from(range(len(txns))))) if txns else set()
    for offset, target in enumerate(sorted(reversed_ids)):
        txns.append(Reversal(sequence=100 + offset, on=txns[target].on, reverses=txns[target].sequence))
    return draw(st.permutations(txns))


@settings(max_examples=200, deadline=None)
@given(histories())
def test_every_unit_received_is_allocated_or_credited(history: list[Transaction]) -> None:
    state = LoanAccount(schedule=SCHEDULE, transactions=tuple(history)).state()
    reversed_ids = {t.reverses for t in history if isinstance(t, Reversal)}
    live = [t for t in history if t.sequence not in reversed_ids]
    received = sum(t.amount_minor for t in live if isinstance(t, Repayment))
    charged = sum(t.amount_minor for t in live if isinstance(t, PenaltyCharge))
    allocated = sum(a.allocated.total_minor + a.overpayment_minor for a in state.allocations)
    assert allocated == received
    for allocation in state.allocations:
        assert allocation.allocated.total_minor + allocation.overpayment_minor == allocation.amount_minor
        assert allocation.allocated == sum((c for _, c in allocation.by_installment), Components())
    assert state.credit_balance_minor == sum(a.overpayment_minor for a in state.allocations)
    assert state.paid.total_minor + state.credit_balance_minor == received
    for inst in state.installments:
        outstanding = inst.outstanding
        assert (
            min(
                outstanding.principal_minor,
                outstanding.interest_minor,
                outstanding.fee_minor,
                outstanding.penalty_minor,
            )
            >= 0
        )
        assert (inst.settled_on is not None) == inst.is_settled
    assert state.outstanding.total_minor + state.paid.total_minor == SCHEDULE.total_due_minor + charged
    # never both a credit and an amount owed, penalties charged after the credit included
    assert state.credit_balance_minor == 0 or state.outstanding.total_minor == 0


@settings(max_examples=100, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_recording_order_does_not_change_the_state(history: list[Transaction], rnd: random.Random) -> None:
    shuffled = list(history)
    rnd.shuffle(shuffled)
    one = LoanAccount(schedule=SCHEDULE, transactions=tuple(history)).state()
    two = LoanAccount(schedule=SCHEDULE, transactions=tuple(shuffled)).state()
    assert one == two
