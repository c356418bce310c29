"""Worked accounting examples over HTTP, readable as documentation of the escrow ledger.

The order: lot A 60,000 and lot B 40,000 KES minor units (600.00 + 400.00 KES), platform fee
250 bps with a minimum of 100 per release, inspection period 3 days. Signed balances are
debit +, credit -; the trial balance shows each account's balance in its debit or credit
column, and per currency the two columns agree.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.clock import ManualClock
from tests.escrow.kit import EscrowApi, assert_conserved
from tests.factories.escrow import AssignmentPayloadFactory

CLEARING = "provider_clearing:sandbox:KES"
FEE = "platform_fee_revenue:platform:KES"
SELLER = "seller_payable:seller-1:KES"
PAYOUTS = "payout_clearing:sandbox:KES"


def legs(entry: dict[str, Any]) -> list[tuple[str, str, int]]:
    """An entry's legs as (account, side, minor) rows."""
    return [(p["account"], p["side"], p["amount_minor"]) for p in entry["postings"]]


def test_two_lot_order_one_accepted_one_partly_accepted(api: EscrowApi, clock: ManualClock) -> None:
    # 1. The marketplace opens the escrow; nothing has moved yet.
    escrow = api.create(order_ref="ORD-1001", buyer_id="buyer-7")
    eid = escrow["id"]
    holding, buyer = f"escrow_holding:{eid}:KES", "buyer_refund_payable:buyer-7:KES"
    assert (escrow["status"], escrow["total_minor"], escrow["allowed_actions"]) == (
        "created",
        100_000,
        ["cancel", "fund"],
    )
    assert api.get(f"/v1/escrows/{eid}/entries")["entries"] == []

    # 2. The buyer pays 100,000: the provider holds it for us, the escrow owes it.
    #      Dr provider_clearing 100,000 / Cr escrow_holding 100,000
    escrow = api.fund(eid)
    assert escrow["status"] == "funded" and escrow["held_minor"] == 100_000
    assert escrow["payments"][0]["status"] == "confirmed"

    # 3. Lot A ships, arrives and is accepted in full. 250 bps of 60,000 is 1,500.
    #      Dr escrow_holding 60,000 / Cr platform_fee_revenue 1,500 / Cr seller_payable 58,500
    clock.advance(timedelta(days=1))
    api.ship_and_deliver(eid, "A")
    clock.advance(timedelta(days=1))
    escrow = api.lot(eid, "A", "accept")
    assert escrow["lots"][0]["status"] == "accepted" and escrow["status"] == "in_progress"

    # 4. Lot B is accepted for 30,000 only: the fee (750) is on the accepted part; the other
    #    10,000 goes back to the buyer, with no fee on a refund.
    #      Dr escrow_holding 30,000 / Cr platform_fee_revenue 750 / Cr seller_payable 29,250
    #      Dr escrow_holding 10,000 / Cr buyer_refund_payable 10,000
    api.ship_and_deliver(eid, "B")
    escrow = api.lot(eid, "B", "accept", {"amount_minor": 30_000})
    assert escrow["lots"][1]["status"] == "partially_accepted"
    assert escrow["status"] == "completed" and escrow["allowed_actions"] == []

    entries = api.get(f"/v1/escrows/{eid}/entries")["entries"]
    assert [(e["kind"], legs(e)) for e in entries] == [
        ("funding", [(CLEARING, "debit", 100_000), (holding, "credit", 100_000)]),
        ("release", [(holding, "debit", 60_000), (FEE, "credit", 1_500), (SELLER, "credit", 58_500)]),
        ("release", [(holding, "debit", 30_000), (FEE, "credit", 750), (SELLER, "credit", 29_250)]),
        ("refund", [(holding, "debit", 10_000), (buyer, "credit", 10_000)]),
    ]
    assert [e["ref"] for e in entries] == [
        f"{eid}:fund/1",
        f"{eid}:accept:A/1",
        f"{eid}:accept:B/1",
        f"{eid}:accept:B/2",
    ]

    # The escrow's money: funded = released (to the seller, after fees) + refunded + fees + held.
    assert {
        k: escrow[k] for k in ("funded_minor", "released_minor", "refunded_minor", "fees_minor", "held_minor")
    } == {
        "funded_minor": 100_000,
        "released_minor": 87_750,
        "refunded_minor": 10_000,
        "fees_minor": 2_250,
        "held_minor": 0,
    }
    assert_conserved(escrow)

    # The trial balance: the provider holds 100,000 (debit); we owe the seller 87,750, the
    # buyer 10,000 and have earned 2,250 (credits). Debits equal credits.
    trial = api.trial_balance()
    assert trial["currencies"] == [{"currency": "KES", "debits_minor": 100_000, "credits_minor": 100_000}]
    assert trial["balanced"] is True
    assert api.balances() == {CLEARING: 100_000, FEE: -2_250, SELLER: -87_750, buyer: -10_000}
    assert api.verify() == {
        "ok": True,
        "accounts": 6,
        "entries": 4,
        "postings": 10,
        "first_problem": None,
        "problems": [],
    }


def test_proceeds_assigned_to_a_lender_then_the_seller_paid_out(api: EscrowApi, clock: ManualClock) -> None:
    """The seller assigned 20% of every release to lender-1 for loan LN-7, up to 15,000."""
    assignment = api.post(
        "/v1/assignments", AssignmentPayloadFactory(loan_ref="LN-7"), key="service", expect=201
    )
    assert (assignment["remaining_minor"], assignment["status"]) == (15_000, "active")
    eid = api.create()["id"]
    api.fund(eid)
    api.ship_and_deliver(eid, "A")
    api.ship_and_deliver(eid, "B")

    # Lot A: net 58,500 after the fee; the lender's 20% is 11,700, the seller keeps 46,800.
    api.lot(eid, "A", "accept")
    # Lot B: net 39,000; 20% would be 7,800 but only 3,300 of the cap is left.
    escrow = api.lot(eid, "B", "accept")
    releases = [legs(e) for e in api.get(f"/v1/escrows/{eid}/entries")["entries"] if e["kind"] == "release"]
    lender = "lender_receivable:lender-1:KES"
    assert releases == [
        [
            (f"escrow_holding:{eid}:KES", "debit", 60_000),
            (FEE, "credit", 1_500),
            (SELLER, "credit", 46_800),
            (lender, "credit", 11_700),
        ],
        [
            (f"escrow_holding:{eid}:KES", "debit", 40_000),
            (FEE, "credit", 1_000),
            (SELLER, "credit", 35_700),
            (lender, "credit", 3_300),
        ],
    ]
    assert escrow["released_minor"] == 82_500 + 15_000 and escrow["fees_minor"] == 2_500
    assert_conserved(escrow)

    # The loans service is told by an event per sweep.
    swept = [e["payload"] for e in api.events("assignment.swept")]
    assert [(s["loan_ref"], s["amount_minor"], s["remaining_minor"], s["repaid"]) for s in swept] == [
        ("LN-7", 11_700, 3_300, False),
        ("LN-7", 3_300, 0, True),
    ]
    assert api.get(f"/v1/assignments/{assignment['id']}", key="auditor")["status"] == "repaid"

    # Paying the seller out: payable -> payout clearing; the provider settles: -> provider clearing.
    payout = api.post("/v1/payouts", {"seller_id": "seller-1", "currency": "KES"}, key="admin", expect=201)
    assert (payout["amount_minor"], payout["status"]) == (82_500, "pending")
    assert api.balances()[PAYOUTS] == -82_500
    settled = api.post(f"/v1/sandbox/payouts/{payout['id']}/settle", key="admin")
    assert settled["payout"]["status"] == "settled"
    balances = api.balances()
    assert SELLER not in balances and PAYOUTS not in balances
    assert balances == {CLEARING: 100_000 - 82_500, FEE: -2_500, lender: -15_000}
    assert api.verify()["ok"]


def test_dispute_resolved_with_a_split_fee_on_the_sellers_share_only(api: EscrowApi) -> None:
    eid = api.create(lots=[{"lot_ref": "A", "amount_minor": 60_000}])["id"]
    api.fund(eid)
    api.ship_and_deliver(eid, "A")
    escrow = api.lot(eid, "A", "dispute", {"reason": "short weight: 18 of 20 bags"})
    assert escrow["status"] == "disputed" and escrow["lots"][0]["allowed_actions"] == ["resolve"]

    # The arbiter gives the seller 54,000 (fee 1,350) and the buyer 6,000 back.
    escrow = api.lot(eid, "A", "resolve", {"seller_minor": 54_000}, key="admin")
    assert (escrow["status"], escrow["lots"][0]["status"]) == ("completed", "resolved")
    money = (escrow["released_minor"], escrow["fees_minor"], escrow["refunded_minor"])
    assert money == (52_650, 1_350, 6_000)
    assert_conserved(escrow)


def test_payout_returned_by_the_provider_is_owed_again(api: EscrowApi) -> None:
    eid = api.create()["id"]
    api.fund(eid)
    escrow = api.post(f"/v1/escrows/{eid}/cancel", {"reason": "out of stock"})
    assert (escrow["status"], escrow["refunded_minor"]) == ("cancelled", 100_000)
    buyer = escrow["buyer_id"]
    payout = api.post("/v1/payouts", {"buyer_id": buyer, "currency": "KES"}, key="admin", expect=201)
    returned = api.post(f"/v1/sandbox/payouts/{payout['id']}/settle", {"outcome": "returned"}, key="admin")
    assert returned["payout"]["status"] == "returned"
    assert api.balances() == {CLEARING: 100_000, f"buyer_refund_payable:{buyer}:KES": -100_000}
    # ... and can be paid out again.
    again = api.post("/v1/payouts", {"buyer_id": buyer, "currency": "KES"}, key="admin", expect=201)
    assert again["amount_minor"] == 100_000
    assert api.verify()["ok"]
