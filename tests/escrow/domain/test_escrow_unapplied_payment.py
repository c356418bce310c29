"""A payment that cannot fund its escrow is owed back to the buyer, outside every escrow's totals."""

from __future__ import annotations

from services.escrow.domain.ledger import EntryKind, trial_balance
from services.escrow.domain.postings import escrow_totals, unapplied_payment_entry
from tests.escrow.domain.kit import PROVIDER, Book, kes, legs


def test_unapplied_payment_is_owed_to_the_buyer_and_leaves_escrow_totals_alone() -> None:
    entry = unapplied_payment_entry(buyer_id="B1", amount=kes(99_999), provider=PROVIDER, ref="pay-1")
    assert entry.kind is EntryKind.REFUND
    assert legs(entry) == [
        ("provider_clearing:sandbox:KES", "debit", 99_999),
        ("buyer_refund_payable:B1:KES", "credit", 99_999),
    ]
    book = Book()
    book.post([entry])
    assert trial_balance(balances=book.balances) == {"KES": kes(0)}
    totals = escrow_totals(escrow_id="E1", currency="KES", entries=book.entries)
    assert (totals.funded, totals.refunded, totals.held) == (kes(0), kes(0), kes(0))
