"""The tuned account replay gives exactly what the straightforward reference gives.

``account_reference`` holds ``replay_account`` and ``penalties_due`` as they were before close
of business was tuned (issue 13). For random schedules (penalties, tolerances, allocation
orders, fees) and random histories (repayments, penalties, reversals, write-offs) the state at
any date, the full state and the penalties due must be equal.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from services.loans.domain import (
    AllocationComponent,
    ChargeCalculation,
    ChargeTiming,
    Fee,
    LoanAccount,
    LoanTerms,
    OverduePenalty,
    PenaltyCharge,
    PenaltyFrequency,
    Repayment,
    RepaymentFrequency,
    Reversal,
    Transaction,
    WriteOff,
    build_schedule,
    replay_account,
)
from tests.loans.domain.account_reference import reference_penalties_due, reference_replay_account

START = date(2025, 1, 10)


@st.composite
def accounts(draw: st.DrawFn) -> LoanAccount:
    n = draw(st.integers(min_value=1, max_value=12))
    penalty = draw(
        st.none()
        | st.builds(
            OverduePenalty,
            calculation=st.just(ChargeCalculation.FLAT),
            frequency=st.sampled_from(PenaltyFrequency),
            amount_minor=st.integers(0, 5_000),
        )
        | st.builds(
            OverduePenalty,
            calculation=st.just(ChargeCalculation.PERCENT),
            frequency=st.sampled_from(PenaltyFrequency),
            percent=st.decimals(min_value=0, max_value=10, places=2),
        )
    )
    fees = draw(
        st.sampled_from([(), (Fee("svc", ChargeTiming.PER_INSTALLMENT, ChargeCalculation.FLAT, 300),)])
    )
    terms = LoanTerms(
        currency="KES",
        repayment_frequency=draw(st.sampled_from([RepaymentFrequency.MONTHS, RepaymentFrequency.WEEKS])),
        overdue_penalty=penalty,
        fees=fees,
        allocation_order=draw(st.permutations(list(AllocationComponent)).map(tuple)),
        arrears_tolerance_minor=draw(st.sampled_from([0, 0, 100, 50_000])),
    )
    schedule = build_schedule(
        terms=terms,
        principal_minor=draw(st.integers(10_000, 2_000_000)),
        annual_interest_rate=Decimal(draw(st.sampled_from(["0", "12", "18", "36.5"]))),
        number_of_repayments=n,
        disbursement_date=START,
    )
    day = st.integers(0, 400).map(lambda d: START + timedelta(days=d))
    txns: list[Transaction] = []
    for _ in range(draw(st.integers(0, 10))):
        txns.append(
            Repayment(sequence=len(txns) + 1, on=draw(day), amount_minor=draw(st.integers(1, 400_000)))
        )
    for _ in range(draw(st.integers(0, 4))):
        txns.append(
            PenaltyCharge(
                sequence=len(txns) + 1,
                on=draw(day),
                installment_number=draw(st.integers(1, n)),
                amount_minor=draw(st.integers(1, 20_000)),
            )
        )
    if draw(st.booleans()):  # pay off all but a minor unit or two: settled versus not, at the edge
        short = draw(st.integers(-1, 2))
        txns.append(
            Repayment(sequence=len(txns) + 1, on=draw(day), amount_minor=schedule.total_due_minor - short)
        )
    if draw(st.integers(0, 4)) == 0:
        txns.append(WriteOff(sequence=len(txns) + 1, on=draw(day)))
    if txns:
        for target in sorted(draw(st.sets(st.sampled_from(range(len(txns))), max_size=3))):
            later = draw(st.integers(0, 30))
            txns.append(
                Reversal(
                    sequence=len(txns) + 1, on=txns[target].on + timedelta(days=later), reverses=target + 1
                )
            )
    return LoanAccount(schedule=schedule, transactions=tuple(draw(st.permutations(txns))))


@settings(max_examples=600, deadline=None)
@given(accounts(), st.integers(0, 450).map(lambda d: START + timedelta(days=d)))
def test_the_replay_and_the_penalties_match_the_reference(account: LoanAccount, as_of: date) -> None:
    schedule, txns = account.schedule, account.transactions
    assert account.state() == reference_replay_account(schedule=schedule, transactions=txns)
    assert account.state(as_of=as_of) == reference_replay_account(
        schedule=schedule, transactions=txns, as_of=as_of
    )
    assert replay_account(schedule=schedule, transactions=txns, as_of=as_of) == account.state(as_of=as_of)
    assert account.penalties_due(as_of=as_of) == reference_penalties_due(account, as_of=as_of)


@settings(max_examples=200, deadline=None)
@given(accounts(), st.integers(0, 450).map(lambda d: START + timedelta(days=d)))
def test_after_charging_what_is_due_both_see_the_same(account: LoanAccount, as_of: date) -> None:
    # Not always nothing: a charge that a later repayment pays first can leave an installment
    # overdue on a later eve (a cascade the next close of business charges); both agree on it.
    due = account.penalties_due(as_of=as_of)
    first = max((t.sequence for t in account.transactions), default=0) + 1
    charged = account.with_transactions(*(a.to_charge(sequence=first + i) for i, a in enumerate(due)))
    assert charged.penalties_due(as_of=as_of) == reference_penalties_due(charged, as_of=as_of)
    assert charged.state() == reference_replay_account(
        schedule=charged.schedule, transactions=charged.transactions
    )
