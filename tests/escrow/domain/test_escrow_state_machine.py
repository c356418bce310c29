"""Model-based test: the escrow domain against a small in-memory model, step by step.

``test_escrow_properties`` draws one random valid history per example; this machine goes
further: hypothesis interleaves opening escrows, funding them (exactly, wrongly, or after
they stopped waiting: an unapplied payment), every lot action whether the model thinks it is
allowed or not, clock ticks, and the payout cycle of every payable (instructed, settled,
returned, overdrawn). The model is written here from the lifecycle's documented tables, not
imported from them, so a silent change of a rule fails the test. After every step:

* the ledger sums to zero in every currency, and no account that may not go negative is;
* per escrow, funded = released + refunded + fees + held, each figure equal to the model's;
* every payable holds what the model says it is owed, payout clearing what is in flight,
  provider clearing what was paid in less what was paid out;
* lenders hold exactly what the assignments swept, never above a cap.

``AGRIFIN_SOAK=1`` (``make soak``) selects the long profile (≥ 10,000 steps); the default
explores about 1,000. The number of steps explored is printed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

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

from services.escrow.domain.assignment import Assignment
from services.escrow.domain.fees import FeeSchedule
from services.escrow.domain.ledger import (
    AccountKind,
    AccountRef,
    InsufficientFundsError,
    trial_balance,
)
from services.escrow.domain.lifecycle import fund_escrow, open_escrow
from services.escrow.domain.model import (
    Action,
    AmountError,
    Escrow,
    EscrowStatus,
    InvalidTransitionError,
    LotTerms,
)
from services.escrow.domain.postings import (
    buyer_refund_account,
    entries_for_transition,
    escrow_totals,
    payout_clearing_account,
    payout_entry,
    payout_returned_entry,
    payout_settled_entry,
    provider_clearing_account,
    unapplied_payment_entry,
)
from shared.money import Money
from tests.escrow.domain.kit import PROVIDER, T0, Book, perform

SOAK = os.environ.get("AGRIFIN_SOAK") == "1"
settings.register_profile("agrifin-stateful", max_examples=60, stateful_step_count=20, deadline=None)
settings.register_profile("agrifin-stateful-soak", max_examples=800, stateful_step_count=50, deadline=None)
PROFILE = settings.get_profile("agrifin-stateful-soak" if SOAK else "agrifin-stateful")
MIN_STEPS = 10_000 if SOAK else 500

CURRENCY = "KES"
SELLER = "S1"
STEPS = {"steps": 0, "runs": 0, "refused": 0, "moves": 0}

# The documented lot table (lifecycle's module docstring), restated: status -> action -> next.
LOT_TABLE: dict[str, dict[Action, str]] = {
    "pending": {Action.SHIP: "shipped", Action.REFUND_UNDELIVERED: "refunded"},
    "shipped": {
        Action.DELIVER: "delivered",
        Action.DISPUTE: "disputed",
        Action.REFUND_UNDELIVERED: "refunded",
    },
    "delivered": {
        Action.ACCEPT: "accepted",
        Action.REJECT: "rejected",
        Action.DISPUTE: "disputed",
        Action.AUTO_RELEASE: "auto_released",
    },
    "rejected": {Action.RETURN_RECEIVED: "returned", Action.DISPUTE: "disputed"},
    "disputed": {Action.RESOLVE: "resolved"},
}
LOT_ACTIONS = sorted({a for row in LOT_TABLE.values() for a in row})
FINAL = {"accepted", "partially_accepted", "auto_released", "returned", "resolved", "refunded", "cancelled"}


def model_fee(gross: int, fees: FeeSchedule) -> int:
    """The fee rule of ``fees.py``'s docstring, computed independently."""
    if gross == 0:
        return 0
    by_rate = int((Decimal(gross) * fees.bps / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    return min(gross, max(by_rate, fees.min_minor))


@dataclass
class ModelLot:
    amount: int
    deadline: datetime
    status: str = "pending"
    delivered_at: datetime | None = None


@dataclass
class ModelEscrow:
    buyer: str
    lots: dict[str, ModelLot]
    funding_deadline: datetime
    inspection: timedelta
    status: str = "created"
    funded: int = 0
    released: int = 0  # gross
    fees: int = 0
    refunded: int = 0

    @property
    def total(self) -> int:
        return sum(lot.amount for lot in self.lots.values())

    @property
    def held(self) -> int:
        return self.funded - self.released - self.refunded

    def lots_open(self) -> bool:
        return self.status in ("funded", "in_progress", "disputed")

    def lot_allowed(self, lot_id: str, action: Action, now: datetime) -> bool:
        lot = self.lots[lot_id]
        if not self.lots_open() or action not in LOT_TABLE.get(lot.status, {}):
            return False
        if action is Action.REFUND_UNDELIVERED:
            return now >= lot.deadline
        if lot.status == "delivered":
            assert lot.delivered_at is not None
            in_inspection = now < lot.delivered_at + self.inspection
            if action in (Action.REJECT, Action.DISPUTE):
                return in_inspection
            if action is Action.AUTO_RELEASE:
                return not in_inspection
        return True

    def derive_status(self) -> None:
        states = [lot.status for lot in self.lots.values()]
        if "disputed" in states:
            self.status = "disputed"
        elif all(s in FINAL for s in states):
            self.status = "completed" if self.released > 0 else "refunded"
        elif all(s == "pending" for s in states):
            self.status = "funded"
        else:
            self.status = "in_progress"


@dataclass
class Payout:
    payable: AccountRef
    amount: int


@dataclass
class Model:
    escrows: dict[str, ModelEscrow] = field(default_factory=dict)
    owed: dict[AccountRef, int] = field(default_factory=dict)  # payables, normal side
    in_flight: list[Payout] = field(default_factory=list)
    paid_in: int = 0
    paid_out: int = 0

    def credit(self, ref: AccountRef, amount: int) -> None:
        if amount:
            self.owed[ref] = self.owed.get(ref, 0) + amount


class EscrowLifecycle(RuleBasedStateMachine):
    """Random operations on up to four escrows of one seller, checked against ``Model``."""

    def __init__(self) -> None:
        super().__init__()
        self.book = Book()
        self.model = Model()
        self.escrows: dict[str, Escrow] = {}
        self.assignments: tuple[Assignment, ...] = ()
        self.now = T0
        self.step = 0
        self.shares: tuple[Assignment, ...] = ()
        self.model_swept: dict[str, int] = {}
        STEPS["runs"] += 1

    def _ref(self) -> str:
        self.step += 1
        STEPS["steps"] += 1
        return f"r{self.step}"

    @initialize(
        bps=st.integers(0, 1_000),
        min_minor=st.integers(0, 300),
        shares=st.lists(st.tuples(st.integers(1, 5_000), st.integers(1, 80_000)), max_size=2),
    )
    def set_terms(self, bps: int, min_minor: int, shares: list[tuple[int, int]]) -> None:
        self.fees = FeeSchedule(bps=bps, min_minor=min_minor)
        self.assignments = tuple(
            Assignment(f"AS{i}", f"LENDER{i}", share, Money(cap, CURRENCY), Money(0, CURRENCY))
            for i, (share, cap) in enumerate(shares)
        )
        self.shares = self.assignments
        self.model_swept = {a.assignment_id: 0 for a in self.assignments}

    # --- escrows ----------------------------------------------------------------------------

    @precondition(lambda self: len(self.escrows) < 4)
    @rule(
        amounts=st.lists(st.integers(1, 60_000), min_size=1, max_size=3),
        deadline_hours=st.integers(1, 300),
        inspection_hours=st.integers(1, 96),
        funding_hours=st.integers(1, 72),
    )
    def open(
        self, amounts: list[int], deadline_hours: int, inspection_hours: int, funding_hours: int
    ) -> None:
        escrow_id = f"E{len(self.escrows)}"
        deadline = self.now + timedelta(hours=deadline_hours)
        funding = self.now + timedelta(hours=funding_hours)
        inspection = timedelta(hours=inspection_hours)
        lots = [LotTerms(f"L{i}", Money(a, CURRENCY), deadline) for i, a in enumerate(amounts)]
        self.escrows[escrow_id] = open_escrow(
            escrow_id=escrow_id,
            buyer_id=f"B{escrow_id}",
            seller_id=SELLER,
            lots=lots,
            fee_schedule=self.fees,
            inspection_period=inspection,
            funding_deadline=funding,
            now=self.now,
        )
        self.model.escrows[escrow_id] = ModelEscrow(
            buyer=f"B{escrow_id}",
            lots={f"L{i}": ModelLot(a, deadline) for i, a in enumerate(amounts)},
            funding_deadline=funding,
            inspection=inspection,
        )
        self._ref()

    @precondition(lambda self: self.escrows)
    @rule(data=st.data(), wrong_by=st.sampled_from([0, 0, 0, 1, -1]), waiting=st.booleans())
    def pay(self, data: st.DataObject, wrong_by: int, waiting: bool) -> None:
        """A buyer's payment arrives: it funds a waiting escrow or is owed back to the buyer."""
        pool = sorted(e for e, m in self.model.escrows.items() if m.status == "created" or not waiting)
        escrow_id = data.draw(st.sampled_from(pool or sorted(self.escrows)), label="escrow")
        model = self.model.escrows[escrow_id]
        amount = Money(max(1, model.total + wrong_by), CURRENCY)
        ref = self._ref()
        if model.status == "created" and amount.minor == model.total:
            transition = fund_escrow(escrow=self.escrows[escrow_id], amount=amount, now=self.now)
            self._post(escrow_id, transition, ref)
            model.status, model.funded = "funded", amount.minor
        else:
            if model.status == "created":
                with pytest.raises(AmountError):
                    fund_escrow(escrow=self.escrows[escrow_id], amount=amount, now=self.now)
            else:
                with pytest.raises(InvalidTransitionError):
                    fund_escrow(escrow=self.escrows[escrow_id], amount=amount, now=self.now)
            entry = unapplied_payment_entry(buyer_id=model.buyer, amount=amount, provider=PROVIDER, ref=ref)
            self.book.post([entry])
            self.model.credit(buyer_refund_account(buyer_id=model.buyer, currency=CURRENCY), amount.minor)
        self.model.paid_in += amount.minor

    @precondition(lambda self: self.escrows)
    @rule(data=st.data(), action=st.sampled_from([Action.CANCEL, Action.EXPIRE]))
    def end(self, data: st.DataObject, action: Action) -> None:
        """Cancel or expire: allowed exactly as the escrow table says."""
        escrow_id = data.draw(st.sampled_from(sorted(self.escrows)), label="escrow")
        model = self.model.escrows[escrow_id]
        any_moved = any(lot.status != "pending" for lot in model.lots.values())
        if action is Action.CANCEL:
            allowed = model.status == "created" or (model.status == "funded" and not any_moved)
        else:
            allowed = model.status == "created" and self.now >= model.funding_deadline
        ref = self._ref()
        if not allowed:
            self._refused(escrow_id, action, None)
            return
        transition = perform(self.escrows[escrow_id], action, self.now)
        self._post(escrow_id, transition, ref)
        if model.funded:
            held = model.held
            model.refunded += held
            self.model.credit(buyer_refund_account(buyer_id=model.buyer, currency=CURRENCY), held)
        model.status = "cancelled" if action is Action.CANCEL else "expired"
        for lot in model.lots.values():
            lot.status = "cancelled"

    @precondition(lambda self: self.escrows)
    @rule(data=st.data(), action=st.sampled_from(LOT_ACTIONS))
    def act_on_lot(self, data: st.DataObject, action: Action) -> None:
        """Any lot action, allowed or not."""
        escrow_id = data.draw(st.sampled_from(sorted(self.escrows)), label="escrow")
        lot_id = data.draw(st.sampled_from(sorted(self.model.escrows[escrow_id].lots)), label="lot")
        self._act(data, escrow_id, lot_id, action)

    @precondition(lambda self: self._allowed_moves())
    @rule(data=st.data())
    def advance_lot(self, data: st.DataObject) -> None:
        """A lot action the model allows (so that lots run their course)."""
        escrow_id, lot_id, action = data.draw(st.sampled_from(self._allowed_moves()), label="move")
        self._act(data, escrow_id, lot_id, action)

    @precondition(lambda self: self._allowed_moves())
    @rule(data=st.data())
    def advance_another_lot(self, data: st.DataObject) -> None:
        """The same again: two rules of three move a lot on, so escrows reach their end."""
        self.advance_lot(data)

    def _allowed_moves(self) -> list[tuple[str, str, Action]]:
        return [
            (escrow_id, lot_id, action)
            for escrow_id, model in sorted(self.model.escrows.items())
            for lot_id in sorted(model.lots)
            for action in LOT_ACTIONS
            if model.lot_allowed(lot_id, action, self.now)
        ]

    def _act(self, data: st.DataObject, escrow_id: str, lot_id: str, action: Action) -> None:
        """Perform ``action``; the model decides whether it must succeed and what it moves."""
        model = self.model.escrows[escrow_id]
        lot = model.lots[lot_id]
        ref = self._ref()
        if not model.lot_allowed(lot_id, action, self.now):
            self._refused(escrow_id, action, lot_id)
            return
        seller = lot.amount
        if action is Action.RESOLVE:
            seller = data.draw(st.integers(0, lot.amount), label="seller share")
        elif action is Action.ACCEPT:
            assert lot.delivered_at is not None
            if self.now < lot.delivered_at + model.inspection:
                seller = data.draw(st.integers(1, lot.amount), label="accepted")
        elif action in (Action.RETURN_RECEIVED, Action.REFUND_UNDELIVERED):
            seller = 0
        amount = seller if action in (Action.RESOLVE, Action.ACCEPT) else None
        transition = perform(self.escrows[escrow_id], action, self.now, lot_id, amount_minor=amount)
        self._post(escrow_id, transition, ref)
        STEPS["moves"] += 1
        lot.status = LOT_TABLE[lot.status][action]
        if action is Action.DELIVER:
            lot.delivered_at = self.now
        if lot.status in FINAL:
            if lot.status == "accepted" and seller < lot.amount:
                lot.status = "partially_accepted"
            fee = model_fee(seller, self.fees)
            model.released += seller
            model.fees += fee
            model.refunded += lot.amount - seller
            self.model.credit(
                buyer_refund_account(buyer_id=model.buyer, currency=CURRENCY), lot.amount - seller
            )
            self._credit_release(seller - fee)
        model.derive_status()
        assert self.escrows[escrow_id].status.value == model.status
        assert self.escrows[escrow_id].lot(lot_id).status.value == lot.status

    @rule(minutes=st.integers(1, 6_000))
    def tick(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)
        self._ref()

    # --- payouts ----------------------------------------------------------------------------

    @precondition(lambda self: any(self.model.owed.values()))
    @rule(data=st.data(), overdraw=st.booleans())
    def instruct_payout(self, data: st.DataObject, overdraw: bool) -> None:
        """Pay part of a payable out; asking for more than it holds is refused, books unchanged."""
        payable = data.draw(
            st.sampled_from(sorted(r for r, v in self.model.owed.items() if v)), label="payable"
        )
        owed = self.model.owed[payable]
        amount = owed + data.draw(st.integers(1, 100)) if overdraw else data.draw(st.integers(1, owed))
        entry = payout_entry(
            payable=payable, amount=Money(amount, CURRENCY), provider=PROVIDER, ref=self._ref()
        )
        if overdraw:
            before = dict(self.book.balances)
            with pytest.raises(InsufficientFundsError):
                self.book.post([entry])
            assert self.book.balances == before
            return
        self.book.post([entry])
        self.model.owed[payable] -= amount
        self.model.in_flight.append(Payout(payable, amount))

    @precondition(lambda self: self.model.in_flight)
    @rule(data=st.data(), settled=st.booleans())
    def confirm_payout(self, data: st.DataObject, settled: bool) -> None:
        """The provider settles or returns one payout in flight."""
        index = data.draw(st.integers(0, len(self.model.in_flight) - 1), label="payout")
        payout = self.model.in_flight.pop(index)
        money, ref = Money(payout.amount, CURRENCY), self._ref()
        if settled:
            self.book.post([payout_settled_entry(amount=money, provider=PROVIDER, ref=ref)])
            self.model.paid_out += payout.amount
        else:
            entry = payout_returned_entry(payable=payout.payable, amount=money, provider=PROVIDER, ref=ref)
            self.book.post([entry])
            self.model.credit(payout.payable, payout.amount)

    # --- helpers ----------------------------------------------------------------------------

    def _refused(self, escrow_id: str, action: Action, lot_id: str | None) -> None:
        before = self.escrows[escrow_id]
        entries = len(self.book.entries)
        with pytest.raises(InvalidTransitionError) as caught:
            perform(before, action, self.now, lot_id)
        assert action not in caught.value.allowed_actions
        assert self.escrows[escrow_id] is before and len(self.book.entries) == entries
        STEPS["refused"] += 1

    def _post(self, escrow_id: str, transition: object, ref: str) -> None:
        plan = entries_for_transition(
            transition=transition,  # type: ignore[arg-type]
            assignments=self.assignments,
            provider=PROVIDER,
            ref=f"{escrow_id}-{ref}",
        )
        self.book.post(plan.entries)
        self.escrows[escrow_id] = transition.escrow  # type: ignore[attr-defined]
        self.assignments = plan.assignments

    def _credit_release(self, net: int) -> None:
        """The seller's net less each assignment's sweep: its share of the net, rounded down,
        at most what is left of its cap (``assignment.py``'s rule, computed here again)."""
        swept = 0
        for a in self.shares:
            amount = min(net * a.share_bps // 10_000, a.cap.minor - self.model_swept[a.assignment_id])
            if self.model_swept[a.assignment_id] < a.cap.minor and amount > 0:
                self.model_swept[a.assignment_id] += amount
                self.model.credit(AccountRef(AccountKind.LENDER_RECEIVABLE, a.lender_id, CURRENCY), amount)
                swept += amount
        self.model.credit(AccountRef(AccountKind.SELLER_PAYABLE, SELLER, CURRENCY), net - swept)

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def books_balance(self) -> None:
        assert all(total.is_zero() for total in trial_balance(balances=self.book.balances).values())
        for ref, balance in self.book.balances.items():
            account = self.book.accounts[ref]
            if not account.may_go_negative:
                assert account.normal_balance(balance).minor >= 0, ref

    @invariant()
    def escrows_conserve_money(self) -> None:
        for escrow_id, model in self.model.escrows.items():
            totals = escrow_totals(escrow_id=escrow_id, currency=CURRENCY, entries=self.book.entries)
            assert totals.is_conserved
            assert totals.funded.minor == model.funded
            assert totals.held.minor == model.held >= 0
            assert totals.refunded.minor == model.refunded
            assert totals.fees.minor == model.fees
            assert totals.released.minor + totals.fees.minor == model.released
            if model.status in ("completed", "refunded", "cancelled", "expired"):
                assert model.held == 0
            assert self.escrows[escrow_id].status is EscrowStatus(model.status)

    @invariant()
    def payables_match_the_model(self) -> None:
        for ref, owed in self.model.owed.items():
            assert -self.book.balance(ref) == owed, ref  # payables are credit-normal
        clearing = payout_clearing_account(provider=PROVIDER, currency=CURRENCY)
        in_flight = sum(p.amount for p in self.model.in_flight)
        assert -self.book.balance(clearing) == in_flight
        provider = provider_clearing_account(provider=PROVIDER, currency=CURRENCY)
        assert self.book.balance(provider) == self.model.paid_in - self.model.paid_out
        assert {a.assignment_id: a.swept.minor for a in self.assignments} == self.model_swept
        assert all(a.swept <= a.cap for a in self.assignments)


def test_escrow_lifecycle_against_the_model() -> None:
    """Run the machine under the profile, then report (and floor) the steps explored."""
    run_state_machine_as_test(
        EscrowLifecycle, settings=settings(PROFILE, suppress_health_check=[HealthCheck.too_slow])
    )
    print(f"\nescrow state machine: {STEPS}")
    assert STEPS["steps"] >= MIN_STEPS, STEPS
