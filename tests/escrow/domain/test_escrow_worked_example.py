"""Worked accounting examples: a two-lot order from funding to payout, entry by entry.

The order: lot A 60,000 and lot B 40,000 KES minor units (600.00 + 400.00 KES); platform fee
250 bps, minimum 100. Signed balances: debit +, credit - (see ``ledger``'s docstring).
"""

from __future__ import annotations

from datetime import timedelta

from services.escrow.domain.assignment import Assignment
from services.escrow.domain.ledger import trial_balance
from services.escrow.domain.lifecycle import (
    accept_lot,
    cancel_escrow,
    deliver_lot,
    fund_escrow,
    ship_lot,
)
from services.escrow.domain.model import EscrowStatus, LotStatus
from services.escrow.domain.postings import (
    buyer_refund_account,
    entries_for_transition,
    escrow_totals,
    fee_revenue_account,
    holding_account,
    lender_account,
    payout_clearing_account,
    payout_entry,
    payout_returned_entry,
    payout_settled_entry,
    provider_clearing_account,
    seller_payable_account,
)
from tests.escrow.domain.kit import PROVIDER, T0, Book, kes, legs, two_lot_escrow

HOLDING = "escrow_holding:E1:KES"
CLEARING = "provider_clearing:sandbox:KES"
FEE = "platform_fee_revenue:platform:KES"
SELLER = "seller_payable:S1:KES"
BUYER = "buyer_refund_payable:B1:KES"


def test_two_lot_order_lot_a_accepted_lot_b_partly_accepted() -> None:
    book = Book()
    escrow = two_lot_escrow()
    assert escrow.total == kes(100_000)

    # 1. The buyer pays 100,000: the provider now holds it, the escrow owes it.
    step = fund_escrow(escrow=escrow, amount=kes(100_000), now=T0 + timedelta(hours=1))
    plan = entries_for_transition(transition=step, assignments=(), provider=PROVIDER, ref="fund")
    assert [legs(e) for e in plan.entries] == [
        [(CLEARING, "debit", 100_000), (HOLDING, "credit", 100_000)],
    ]
    book.post(plan.entries)
    escrow = step.escrow
    assert escrow.status is EscrowStatus.FUNDED

    # 2. Lot A ships, arrives and is accepted in full: 250 bps of 60,000 = 1,500 fee.
    now = T0 + timedelta(days=1)
    escrow = ship_lot(escrow=escrow, lot_id="A", carrier="G4S", tracking="KE1", now=now).escrow
    assert escrow.status is EscrowStatus.IN_PROGRESS
    escrow = deliver_lot(escrow=escrow, lot_id="A", now=now + timedelta(days=1)).escrow
    step = accept_lot(escrow=escrow, lot_id="A", now=now + timedelta(days=2))
    plan = entries_for_transition(transition=step, assignments=(), provider=PROVIDER, ref="acc-A")
    assert [legs(e) for e in plan.entries] == [
        [(HOLDING, "debit", 60_000), (FEE, "credit", 1_500), (SELLER, "credit", 58_500)],
    ]
    book.post(plan.entries)
    escrow = step.escrow
    assert escrow.lot("A").status is LotStatus.ACCEPTED

    # 3. Lot B is accepted for 30,000 only: fee 750 on the accepted part, 10,000 back to the
    #    buyer with no fee on the refund.
    now = T0 + timedelta(days=4)
    escrow = ship_lot(escrow=escrow, lot_id="B", carrier="G4S", tracking="KE2", now=now).escrow
    escrow = deliver_lot(escrow=escrow, lot_id="B", now=now + timedelta(days=1)).escrow
    step = accept_lot(escrow=escrow, lot_id="B", amount_minor=30_000, now=now + timedelta(days=2))
    plan = entries_for_transition(transition=step, assignments=(), provider=PROVIDER, ref="acc-B")
    assert [legs(e) for e in plan.entries] == [
        [(HOLDING, "debit", 30_000), (FEE, "credit", 750), (SELLER, "credit", 29_250)],
        [(HOLDING, "debit", 10_000), (BUYER, "credit", 10_000)],
    ]
    assert [e.ref for e in plan.entries] == ["acc-B/1", "acc-B/2"]
    book.post(plan.entries)
    escrow = step.escrow
    assert escrow.lot("B").status is LotStatus.PARTIALLY_ACCEPTED
    assert escrow.status is EscrowStatus.COMPLETED

    # Final balances: nothing left held; the trial balance sums to zero.
    assert {str(ref): money.minor for ref, money in book.balances.items()} == {
        CLEARING: 100_000,
        HOLDING: 0,
        FEE: -2_250,
        SELLER: -87_750,
        BUYER: -10_000,
    }
    assert trial_balance(balances=book.balances) == {"KES": kes(0)}

    # The escrow's invariant: funded = released + refunded + fees + held.
    totals = escrow_totals(escrow_id="E1", currency="KES", entries=book.entries)
    assert (totals.funded, totals.released, totals.refunded, totals.fees, totals.held) == (
        kes(100_000),
        kes(87_750),
        kes(10_000),
        kes(2_250),
        kes(0),
    )
    assert totals.is_conserved
    assert escrow.held == kes(0)


def test_same_order_with_proceeds_assigned_to_a_lender_then_paid_out() -> None:
    """The seller assigned 20% of every release to lender L1, up to 15,000."""
    loan = Assignment("AS1", "L1", share_bps=2_000, cap=kes(15_000), swept=kes(0))
    book = Book()
    escrow = two_lot_escrow()
    now = T0 + timedelta(hours=1)
    assignments: tuple[Assignment, ...] = (loan,)

    step = fund_escrow(escrow=escrow, amount=kes(100_000), now=now)
    book.post(
        entries_for_transition(
            transition=step, assignments=assignments, provider=PROVIDER, ref="fund"
        ).entries
    )
    escrow = step.escrow
    for lot_id in ("A", "B"):
        escrow = ship_lot(escrow=escrow, lot_id=lot_id, carrier="G4S", tracking=lot_id, now=now).escrow
        escrow = deliver_lot(escrow=escrow, lot_id=lot_id, now=now).escrow

    # Lot A: net 58,500; the lender's 20% is 11,700; the seller keeps 46,800.
    step = accept_lot(escrow=escrow, lot_id="A", now=now)
    plan = entries_for_transition(transition=step, assignments=assignments, provider=PROVIDER, ref="acc-A")
    assert legs(plan.entries[0]) == [
        (HOLDING, "debit", 60_000),
        (FEE, "credit", 1_500),
        (SELLER, "credit", 46_800),
        ("lender_receivable:L1:KES", "credit", 11_700),
    ]
    book.post(plan.entries)
    escrow, assignments = step.escrow, plan.assignments
    assert assignments[0].remaining == kes(3_300)

    # Lot B in full: net 39,000; 20% would be 7,800 but only 3,300 of the cap is left.
    step = accept_lot(escrow=escrow, lot_id="B", now=now)
    plan = entries_for_transition(transition=step, assignments=assignments, provider=PROVIDER, ref="acc-B")
    assert legs(plan.entries[0]) == [
        (HOLDING, "debit", 40_000),
        (FEE, "credit", 1_000),
        (SELLER, "credit", 35_700),
        ("lender_receivable:L1:KES", "credit", 3_300),
    ]
    book.post(plan.entries)
    assignments = plan.assignments
    assert assignments[0].is_repaid

    # Paying the seller out: payable -> payout clearing, then the provider confirms.
    seller = seller_payable_account(seller_id="S1", currency="KES")
    assert book.normal_balance(seller) == 82_500
    book.post([payout_entry(payable=seller, amount=kes(82_500), provider=PROVIDER, ref="po-1")])
    book.post([payout_settled_entry(amount=kes(82_500), provider=PROVIDER, ref="po-1-ok")])

    clearing = provider_clearing_account(provider=PROVIDER, currency="KES")
    assert book.balance(clearing) == 100_000 - 82_500
    assert book.normal_balance(seller) == 0
    assert book.normal_balance(lender_account(lender_id="L1", currency="KES")) == 15_000
    assert book.normal_balance(fee_revenue_account(currency="KES")) == 2_500
    assert book.normal_balance(holding_account(escrow_id="E1", currency="KES")) == 0
    assert trial_balance(balances=book.balances) == {"KES": kes(0)}
    totals = escrow_totals(escrow_id="E1", currency="KES", entries=book.entries)
    assert totals.released == kes(82_500 + 15_000)
    assert totals.fees == kes(2_500)
    assert totals.is_conserved


def test_buyer_refund_paid_out_returned_by_the_provider_then_paid_again() -> None:
    """A refund payout bounces (wrong mobile-money number): the money is owed to the buyer again."""
    book = Book()
    escrow = two_lot_escrow()
    step = fund_escrow(escrow=escrow, amount=kes(100_000), now=T0)
    book.post(entries_for_transition(transition=step, assignments=(), provider=PROVIDER, ref="f").entries)
    step = cancel_escrow(escrow=step.escrow, now=T0 + timedelta(hours=2))
    plan = entries_for_transition(transition=step, assignments=(), provider=PROVIDER, ref="c")
    assert [legs(e) for e in plan.entries] == [
        [(HOLDING, "debit", 100_000), (BUYER, "credit", 100_000)],
    ]
    book.post(plan.entries)

    buyer = buyer_refund_account(buyer_id="B1", currency="KES")
    payout = payout_clearing_account(provider=PROVIDER, currency="KES")
    book.post([payout_entry(payable=buyer, amount=kes(100_000), provider=PROVIDER, ref="p1")])
    assert (book.normal_balance(buyer), book.normal_balance(payout)) == (0, 100_000)
    returned = payout_returned_entry(payable=buyer, amount=kes(100_000), provider=PROVIDER, ref="r1")
    assert legs(returned) == [
        ("payout_clearing:sandbox:KES", "debit", 100_000),
        (BUYER, "credit", 100_000),
    ]
    book.post([returned])
    assert (book.normal_balance(buyer), book.normal_balance(payout)) == (100_000, 0)
    assert trial_balance(balances=book.balances) == {"KES": kes(0)}
    totals = escrow_totals(escrow_id="E1", currency="KES", entries=book.entries)
    assert (totals.refunded, totals.held, totals.is_conserved) == (kes(100_000), kes(0), True)
