"""Model-based test: a loan's life, step by step, against a small in-memory model.

``test_loans_account_properties`` replays one random set of repayments per example; this
machine lives a whole loan: the business date moves on, repayments arrive (on the day or
back-dated), overdue penalties are charged from ``penalties_due`` as close of business would,
any transaction may be reversed once, the loan may be written off (and the write-off
reversed), the lifecycle table is asked before each action. The model keeps only the facts
(what was received, charged, reversed, written off), and after every step:

* outstanding principal = disbursed - principal repaid (zero once written off, then the
  write-off holds exactly what was outstanding);
* everything due = the schedule + the penalties in force, and = paid + outstanding;
* every unit received is in an installment, in the credit balance or a recovery;
* nothing is negative; a credit balance only on a loan with nothing outstanding (a credit
  pays a penalty charged after it); each repayment's allocation reconciles to its amount;
* the status is the one the model derives, and the lifecycle table allows exactly what the
  status allows; penalties charged once are never due again.

``AGRIFIN_SOAK=1`` (``make soak``) selects the long profile (≥ 10,000 steps); the default
explores about 1,000. The number of steps explored is printed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from services.loans.domain import (
    AccountStatus,
    Amortization,
    ChargeCalculation,
    ChargeTiming,
    Components,
    Fee,
    LoanAccount,
    OverduePenalty,
    PenaltyCharge,
    PenaltyFrequency,
    Repayment,
    Reversal,
    Transaction,
    WriteOff,
    build_schedule,
)
from services.loans.domain.lifecycle import ActionRefused, LoanAction, check_loan
from tests.loans.domain.kit import terms

SOAK = os.environ.get("AGRIFIN_SOAK") == "1"
settings.register_profile("agrifin-stateful", max_examples=60, stateful_step_count=20, deadline=None)
settings.register_profile("agrifin-stateful-soak", max_examples=800, stateful_step_count=50, deadline=None)
PROFILE = settings.get_profile("agrifin-stateful-soak" if SOAK else "agrifin-stateful")
MIN_STEPS = 10_000 if SOAK else 500
STEPS = {"steps": 0, "runs": 0, "repayments": 0, "penalties": 0, "reversals": 0, "write_offs": 0}
DISBURSED = date(2025, 1, 10)


@dataclass
class Facts:
    """What happened to the loan, nothing derived: the model's whole state."""

    transactions: dict[int, Transaction] = field(default_factory=dict)
    reversed: set[int] = field(default_factory=set)

    def in_force(self) -> list[Transaction]:
        """Transactions not reversed (and not reversals), in replay order."""
        live = [
            t for s, t in self.transactions.items() if s not in self.reversed and not isinstance(t, Reversal)
        ]
        return sorted(live, key=lambda t: (t.on, t.sequence))

    def write_off(self) -> WriteOff | None:
        return next((t for t in self.in_force() if isinstance(t, WriteOff)), None)


class LoanLife(RuleBasedStateMachine):
    """One disbursed loan, driven by random operations and checked against ``Facts``."""

    def __init__(self) -> None:
        super().__init__()
        self.facts = Facts()
        self.today = DISBURSED
        self.sequence = 0
        STEPS["runs"] += 1

    @initialize(
        principal=st.integers(1_000, 2_000_000),
        rate=st.sampled_from(["0", "9.5", "18", "36"]),
        n=st.integers(1, 6),
        amortization=st.sampled_from([Amortization.EQUAL_INSTALLMENTS, Amortization.EQUAL_PRINCIPAL]),
        fee_minor=st.integers(0, 700),
        penalty=st.sampled_from([None, "flat", "percent"]),
        per_period=st.booleans(),
        tolerance=st.integers(0, 300),
    )
    def disburse(
        self,
        principal: int,
        rate: str,
        n: int,
        amortization: Amortization,
        fee_minor: int,
        penalty: str | None,
        per_period: bool,
        tolerance: int,
    ) -> None:
        frequency = PenaltyFrequency.PER_PERIOD if per_period else PenaltyFrequency.ONCE
        overdue = {
            None: None,
            "flat": OverduePenalty(ChargeCalculation.FLAT, frequency, amount_minor=250),
            "percent": OverduePenalty(ChargeCalculation.PERCENT, frequency, percent=Decimal("2.5")),
        }[penalty]
        fees = (Fee("service", ChargeTiming.PER_INSTALLMENT, ChargeCalculation.FLAT, fee_minor),)
        loan_terms = terms(
            amortization=amortization,
            fees=fees if fee_minor else (),
            overdue_penalty=overdue,
            arrears_tolerance_minor=tolerance,
        )
        self.schedule = build_schedule(
            terms=loan_terms,
            principal_minor=principal,
            annual_interest_rate=Decimal(rate),
            number_of_repayments=n,
            disbursement_date=DISBURSED,
            first_repayment_date=None,
        )
        self.account = LoanAccount(schedule=self.schedule)
        self.status = check_loan("approved", LoanAction.DISBURSE)

    def _record(self, txn: Transaction) -> None:
        self.account = self.account.with_transactions(txn)
        self.facts.transactions[txn.sequence] = txn
        if isinstance(txn, Reversal):
            self.facts.reversed.add(txn.reverses)
        self.status = self.account.state().status.value  # type: ignore[assignment]

    def _next(self) -> int:
        self.sequence += 1
        STEPS["steps"] += 1
        return self.sequence

    # --- rules ------------------------------------------------------------------------------

    @rule(days=st.integers(1, 45))
    def close_days(self, days: int) -> None:
        """The business date moves on; close of business charges what penalties are due."""
        self._next()
        self.today += timedelta(days=days)
        for assessment in self.account.penalties_due(as_of=self.today):
            self._record(
                PenaltyCharge(
                    self._next(),
                    assessment.charged_on,
                    assessment.installment_number,
                    assessment.amount_minor,
                )
            )
            STEPS["penalties"] += 1
        assert self.account.penalties_due(as_of=self.today) == ()

    @rule(amount=st.integers(1, 400_000), back=st.integers(0, 20))
    def repay(self, amount: int, back: int) -> None:
        """A repayment, on the day or back-dated (never before disbursement)."""
        check_loan(self.status, LoanAction.REPAY)
        on = max(DISBURSED, self.today - timedelta(days=back))
        self._record(Repayment(self._next(), on, amount))
        STEPS["repayments"] += 1

    @precondition(lambda self: any(s not in self.facts.reversed for s in self._reversible()))
    @rule(data=st.data())
    def reverse(self, data: st.DataObject) -> None:
        """Reverse one transaction that is neither a reversal nor reversed already."""
        check_loan(self.status, LoanAction.REVERSE)
        target = data.draw(st.sampled_from(self._reversible()), label="reverses")
        self._record(Reversal(self._next(), self.today, target))
        STEPS["reversals"] += 1

    @rule()
    def write_off(self) -> None:
        """Write the loan off: allowed only while it is active."""
        if self.status != "active":
            with pytest.raises(ActionRefused) as refused:
                check_loan(self.status, LoanAction.WRITE_OFF)
            assert "write_off" not in refused.value.allowed
            self._next()
            return
        check_loan(self.status, LoanAction.WRITE_OFF)
        self._record(WriteOff(self._next(), self.today))
        STEPS["write_offs"] += 1

    @rule(data=st.data())
    def replay_a_mistake(self, data: st.DataObject) -> None:
        """Malformed transactions are refused and change nothing."""
        self._next()
        before = self.account
        choice = data.draw(st.sampled_from(["duplicate", "reverse reversal", "reverse twice", "zero"]))
        seqs = sorted(self.facts.transactions)
        reversals = [s for s, t in self.facts.transactions.items() if isinstance(t, Reversal)]
        record = self.account.with_transactions
        call: Callable[..., object]
        if choice == "duplicate" and seqs:
            call, args = record, (Repayment(seqs[0], self.today, 1),)
        elif choice == "reverse reversal" and reversals:
            call, args = record, (Reversal(self._next(), self.today, reversals[0]),)
        elif choice == "reverse twice" and self.facts.reversed:
            call, args = record, (Reversal(self._next(), self.today, min(self.facts.reversed)),)
        else:
            call, args = Repayment, (self._next(), self.today, 0)
        with pytest.raises(ValueError):
            call(*args)
        assert self.account is before

    def _reversible(self) -> list[int]:
        return sorted(
            s
            for s, t in self.facts.transactions.items()
            if not isinstance(t, Reversal) and s not in self.facts.reversed
        )

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def money_adds_up(self) -> None:
        state = self.account.state()
        live = self.facts.in_force()
        write_off = self.facts.write_off()
        received = sum(t.amount_minor for t in live if isinstance(t, Repayment))
        cutoff = (write_off.on, write_off.sequence) if write_off else None
        penalties = sum(
            t.amount_minor
            for t in live
            if isinstance(t, PenaltyCharge) and (cutoff is None or (t.on, t.sequence) < cutoff)
        )
        recovered = sum(
            t.amount_minor
            for t in live
            if isinstance(t, Repayment) and cutoff is not None and (t.on, t.sequence) > cutoff
        )
        due = sum(i.due.total_minor for i in state.installments)
        assert due == self.schedule.total_due_minor + penalties
        assert state.paid.total_minor + state.credit_balance_minor + state.recovered_minor == received
        assert state.recovered_minor == recovered
        principal_paid = state.paid.principal_minor
        if write_off is None:
            assert state.status is not AccountStatus.WRITTEN_OFF
            assert state.outstanding.principal_minor == self.schedule.principal_minor - principal_paid
            assert state.outstanding.total_minor + state.paid.total_minor == due
        else:
            assert state.status is AccountStatus.WRITTEN_OFF
            assert state.outstanding.total_minor == 0
            assert state.written_off.principal_minor == self.schedule.principal_minor - principal_paid
            assert state.written_off.total_minor + state.paid.total_minor == due

    @invariant()
    def nothing_negative(self) -> None:
        state = self.account.state()
        for inst in state.installments:
            for part in (inst.outstanding, inst.paid, inst.due):
                assert min(part.principal_minor, part.interest_minor, part.fee_minor, part.penalty_minor) >= 0
        assert state.credit_balance_minor >= 0 and state.recovered_minor >= 0
        # never both a credit and an amount owed: a credit pays a penalty charged after it
        assert state.credit_balance_minor == 0 or state.outstanding.total_minor == 0
        for allocation in state.allocations:
            assert (
                allocation.allocated.total_minor + allocation.overpayment_minor + allocation.recovery_minor
                == allocation.amount_minor
            )
            assert allocation.allocated == sum((c for _, c in allocation.by_installment), Components())
        assert state.credit_balance_minor == sum(a.overpayment_minor for a in state.allocations)
        assert self.account.days_past_due(as_of=self.today) >= 0

    @invariant()
    def status_is_the_models(self) -> None:
        state = self.account.state()
        if self.facts.write_off() is not None:
            expected = AccountStatus.WRITTEN_OFF
        elif state.credit_balance_minor > 0:
            expected = AccountStatus.OVERPAID
        elif state.outstanding.total_minor == 0:
            expected = AccountStatus.CLOSED
        else:
            expected = AccountStatus.ACTIVE
        assert state.status is expected
        # nothing is dated after today, so the view as of today is the whole account
        assert replace(self.account.state(as_of=self.today), as_of=None) == state
        if state.status in (AccountStatus.CLOSED, AccountStatus.OVERPAID, AccountStatus.WRITTEN_OFF):
            assert self.account.days_past_due(as_of=self.today) == 0


def test_a_credit_balance_pays_a_penalty_charged_after_it() -> None:
    """Close of business charges a penalty the day after the due date; a repayment of the
    installment plus one unit, back-dated to the due date, overpays by 1 on its date, and
    that credit pays 1 of the penalty when it is charged (found by the machine under soak)."""
    schedule = build_schedule(
        terms=terms(overdue_penalty=OverduePenalty(ChargeCalculation.FLAT, amount_minor=250)),
        principal_minor=1_000,
        annual_interest_rate=Decimal(0),
        number_of_repayments=1,
        disbursement_date=DISBURSED,
        first_repayment_date=None,
    )
    due = schedule.rows[0].due_date
    account = LoanAccount(schedule=schedule)
    (penalty,) = account.penalties_due(as_of=due + timedelta(days=1))
    account = account.with_transactions(
        PenaltyCharge(1, penalty.charged_on, penalty.installment_number, penalty.amount_minor),
        Repayment(2, due, 1_001),
    )
    state = account.state()
    assert state.credit_balance_minor == 0 or state.outstanding.total_minor == 0, state
    assert state.status is not AccountStatus.OVERPAID or state.outstanding.total_minor == 0
    assert state.status is AccountStatus.ACTIVE
    assert state.credit_balance_minor == 0
    assert state.outstanding == Components(penalty_minor=249)
    assert state.installments[0].paid == Components(penalty_minor=1, principal_minor=1_000)
    (allocation,) = state.allocations
    assert allocation.allocated == Components(penalty_minor=1, principal_minor=1_000)
    assert allocation.by_installment == ((1, allocation.allocated),)
    assert allocation.overpayment_minor == 0
    # before the charge the repayment overpaid by 1, and the loan read overpaid
    before = account.state(as_of=due)
    assert before.status is AccountStatus.OVERPAID and before.credit_balance_minor == 1
    assert before.allocations[0].overpayment_minor == 1


def test_loan_life_against_the_model() -> None:
    """Run the machine under the profile, then report (and floor) the steps explored."""
    run_state_machine_as_test(
        LoanLife, settings=settings(PROFILE, suppress_health_check=[HealthCheck.too_slow])
    )
    print(f"\nloan state machine: {STEPS}")
    assert STEPS["steps"] >= MIN_STEPS, STEPS
