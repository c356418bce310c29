"""Property: any sequence of valid actions on any escrows keeps the books sound.

Hypothesis opens one to three escrows for the same seller (who may have assigned proceeds to
lenders), then interleaves random allowed actions, clock ticks, payouts and attempts at
disallowed actions. After every step:

* every currency's trial balance is zero;
* no account that may not go negative is below zero on its normal side;
* per escrow, funded = released + refunded + fees + held, the ledger agrees with the
  escrow's own figures, and a closed escrow holds nothing;
* lenders received exactly what the assignments recorded as swept, never above the cap;
* a disallowed action raises ``InvalidTransitionError`` listing exactly the allowed actions.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from services.escrow.domain.assignment import Assignment
from services.escrow.domain.fees import FeeSchedule
from services.escrow.domain.ledger import AccountKind, trial_balance
from services.escrow.domain.lifecycle import allowed_actions, open_escrow
from services.escrow.domain.model import (
    ESCROW_ACTIONS,
    TERMINAL_ESCROW_STATUSES,
    Action,
    Escrow,
    InvalidTransitionError,
    LotTerms,
)
from services.escrow.domain.postings import (
    entries_for_transition,
    escrow_totals,
    holding_account,
    payout_entry,
    payout_settled_entry,
)
from shared.money import Money
from tests.escrow.domain.kit import PROVIDER, T0, Book, perform

SELLER = "S1"
Subject = tuple[str, str | None]  # (escrow id, lot id or None for the escrow itself)


def draw_escrow(data: st.DataObject, escrow_id: str, fees: FeeSchedule) -> Escrow:
    currency = data.draw(st.sampled_from(["KES", "KES", "UGX"]), label="currency")
    count = data.draw(st.integers(min_value=1, max_value=3), label="lots")
    lots = [
        LotTerms(
            f"L{i}",
            Money(data.draw(st.integers(min_value=1, max_value=100_000)), currency),
            T0 + timedelta(hours=data.draw(st.integers(min_value=1, max_value=400))),
        )
        for i in range(count)
    ]
    return open_escrow(
        escrow_id=escrow_id,
        buyer_id=f"B-{escrow_id}",
        seller_id=SELLER,
        lots=lots,
        fee_schedule=fees,
        inspection_period=timedelta(hours=data.draw(st.integers(min_value=1, max_value=120))),
        funding_deadline=T0 + timedelta(hours=data.draw(st.integers(min_value=1, max_value=72))),
        now=T0,
    )


def draw_assignments(data: st.DataObject) -> tuple[Assignment, ...]:
    result = []
    budget = 10_000
    for index in range(data.draw(st.integers(min_value=0, max_value=2), label="loans")):
        bps = data.draw(st.integers(min_value=1, max_value=budget))
        budget -= bps
        cap = data.draw(st.integers(min_value=1, max_value=150_000))
        result.append(Assignment(f"AS{index}", f"LENDER{index}", bps, Money(cap, "KES"), Money(0, "KES")))
        if budget == 0:
            break
    return tuple(result)


def allowed_map(escrows: dict[str, Escrow], now: datetime) -> dict[Subject, tuple[Action, ...]]:
    subjects: list[Subject] = []
    for escrow_id, escrow in escrows.items():
        subjects.append((escrow_id, None))
        subjects.extend((escrow_id, lot.lot_id) for lot in escrow.lots)
    return {
        (eid, lot_id): allowed_actions(escrow=escrows[eid], now=now, lot_id=lot_id)
        for eid, lot_id in subjects
    }


def check_books(book: Book, escrows: dict[str, Escrow], assignments: tuple[Assignment, ...]) -> None:
    assert all(total.is_zero() for total in trial_balance(balances=book.balances).values())
    for ref, balance in book.balances.items():
        account = book.accounts[ref]
        if not account.may_go_negative:
            assert account.normal_balance(balance).minor >= 0, ref
    for escrow in escrows.values():
        totals = escrow_totals(escrow_id=escrow.escrow_id, currency=escrow.currency, entries=book.entries)
        assert totals.is_conserved
        assert totals.funded == escrow.funded
        assert totals.held == escrow.held
        assert totals.held.minor >= 0
        gross_released = sum(lot.released.minor for lot in escrow.lots)
        assert totals.released.minor + totals.fees.minor == gross_released
        assert totals.refunded.minor == sum(lot.refunded.minor for lot in escrow.lots)
        holding = holding_account(escrow_id=escrow.escrow_id, currency=escrow.currency)
        if holding in book.balances:
            assert book.normal_balance(holding) == escrow.held.minor
        if escrow.status in TERMINAL_ESCROW_STATUSES:
            assert escrow.held.is_zero()
    lenders = sum(
        book.normal_balance(ref) for ref in book.balances if ref.kind is AccountKind.LENDER_RECEIVABLE
    )
    assert lenders == sum(a.swept.minor for a in assignments)
    assert all(a.swept <= a.cap for a in assignments)


def pay_out_sellers(data: st.DataObject, book: Book, step: int) -> None:
    """Pay part of every seller payable out through the provider."""
    for ref in [r for r in book.balances if r.kind is AccountKind.SELLER_PAYABLE]:
        due = book.normal_balance(ref)
        if due > 0:
            amount = Money(data.draw(st.integers(min_value=1, max_value=due)), ref.currency)
            book.post([payout_entry(payable=ref, amount=amount, provider=PROVIDER, ref=f"po{step}")])
            book.post([payout_settled_entry(amount=amount, provider=PROVIDER, ref=f"ok{step}")])


def attempt_refused_action(
    data: st.DataObject,
    escrows: dict[str, Escrow],
    allowed: dict[Subject, tuple[Action, ...]],
    now: datetime,
) -> None:
    """A disallowed action raises, lists exactly the allowed actions and changes nothing."""
    target = data.draw(st.sampled_from(sorted(allowed, key=str)), label="target")
    escrow_id, lot_id = target
    pool = ESCROW_ACTIONS if lot_id is None else set(Action) - ESCROW_ACTIONS
    refused = sorted(pool - set(allowed[target]))
    if not refused:
        return
    bad = data.draw(st.sampled_from(refused), label="refused action")
    before = escrows[escrow_id]
    with pytest.raises(InvalidTransitionError) as caught:
        perform(before, bad, now, lot_id)
    assert caught.value.allowed_actions == tuple(sorted(allowed[target]))
    assert caught.value.action is bad
    assert escrows[escrow_id] is before


def draw_amount(
    data: st.DataObject, escrow: Escrow, lot_id: str, action: Action, now: datetime
) -> int | None:
    """A partial amount for accept (during inspection) or resolve; None means the whole lot."""
    lot = escrow.lot(lot_id)
    if action is Action.RESOLVE:
        return data.draw(st.integers(min_value=0, max_value=lot.amount.minor), label="seller")
    ends = escrow.inspection_ends_at(lot)
    if action is Action.ACCEPT and ends is not None and now < ends:
        partial = st.integers(min_value=1, max_value=lot.amount.minor)
        return data.draw(st.none() | partial, label="accepted")
    return None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_valid_action_sequences_keep_the_books_sound(data: st.DataObject) -> None:
    fees = FeeSchedule(
        bps=data.draw(st.integers(min_value=0, max_value=1_000), label="fee bps"),
        min_minor=data.draw(st.integers(min_value=0, max_value=500), label="fee min"),
    )
    count = data.draw(st.integers(min_value=1, max_value=3), label="escrows")
    escrows = {f"E{i}": draw_escrow(data, f"E{i}", fees) for i in range(count)}
    assignments = draw_assignments(data)
    book, now = Book(), T0

    for step in range(60):
        if all(e.status in TERMINAL_ESCROW_STATUSES for e in escrows.values()):
            break
        allowed = allowed_map(escrows, now)
        moves = [(subject, action) for subject, acts in allowed.items() for action in acts]
        # Ending an escrow early (cancel, expire) is drawn rarely, so lots get to run their course.
        enders = [m for m in moves if m[1] in (Action.CANCEL, Action.EXPIRE)]
        movers = [m for m in moves if m not in enders]
        kinds = ["tick", "payout", "refused", "end"] + ["move"] * 5
        choice: str | tuple[Subject, Action] = data.draw(st.sampled_from(kinds), label="kind")
        if choice in ("move", "end"):
            pool = movers if choice == "move" else enders
            choice = data.draw(st.sampled_from(pool), label="move") if pool else "tick"
        if choice == "tick":
            now += timedelta(minutes=data.draw(st.integers(min_value=1, max_value=7_200)))
        elif choice == "payout":
            pay_out_sellers(data, book, step)
        elif choice == "refused":
            attempt_refused_action(data, escrows, allowed, now)
        else:
            assert isinstance(choice, tuple), choice
            (escrow_id, lot_id), action = choice
            escrow = escrows[escrow_id]
            amount = None if lot_id is None else draw_amount(data, escrow, lot_id, action, now)
            transition = perform(escrow, action, now, lot_id, amount_minor=amount)
            event(f"action {action.value}")
            plan = entries_for_transition(
                transition=transition,
                assignments=assignments,
                provider=PROVIDER,
                ref=f"{escrow_id}-{step}",
            )
            book.post(plan.entries)
            escrows[escrow_id], assignments = transition.escrow, plan.assignments
        check_books(book, escrows, assignments)
    for escrow in escrows.values():
        event(f"escrow ends {escrow.status.value}")
