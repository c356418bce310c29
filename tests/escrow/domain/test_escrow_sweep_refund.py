"""Refunding swept money to the seller: never more than swept, never more than the lender holds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.escrow.domain.assignment import SweepRefundRefused, check_sweep_refund, refundable
from services.escrow.domain.ledger import (
    AccountKind,
    EntryKind,
    InsufficientFundsError,
    Side,
    apply_entry,
    open_accounts,
    trial_balance,
)
from services.escrow.domain.postings import lender_account, seller_payable_account, sweep_refund_entry
from tests.escrow.domain.kit import kes

LENDER = lender_account(lender_id="lender-1", currency="KES")
SELLER = seller_payable_account(seller_id="seller-1", currency="KES")


def _check(amount: int, *, swept: int, refunded: int = 0, owed: int = 10**9) -> None:
    check_sweep_refund(
        assignment_id="AS1",
        lender_id="lender-1",
        amount=kes(amount),
        swept=kes(swept),
        refunded=kes(refunded),
        lender_owed=kes(owed),
    )


def test_a_refund_up_to_what_was_swept_and_not_refunded_passes() -> None:
    _check(4_875, swept=4_875)
    _check(875, swept=4_875, refunded=4_000)
    assert refundable(swept=kes(4_875), refunded=kes(4_000)) == kes(875)


def test_more_than_swept_less_refunded_is_refused_naming_what_is_left() -> None:
    with pytest.raises(SweepRefundRefused) as caught:
        _check(876, swept=4_875, refunded=4_000)
    assert caught.value.current_state == "exceeds_swept"
    assert caught.value.available == kes(875)
    assert "at most 875" in str(caught.value)


def test_more_than_the_lender_still_holds_is_refused_in_plain_words() -> None:
    with pytest.raises(SweepRefundRefused) as caught:
        _check(1_000, swept=4_875, owed=999)
    assert caught.value.current_state == "lender_paid_out"
    assert caught.value.available == kes(999)
    assert "has been paid out" in str(caught.value)


def test_a_refund_must_be_positive_and_refunded_within_swept() -> None:
    with pytest.raises(ValueError, match="positive"):
        _check(0, swept=10)
    with pytest.raises(ValueError, match="within"):
        refundable(swept=kes(10), refunded=kes(11))


def test_the_entry_moves_the_money_from_the_lender_back_to_the_seller() -> None:
    entry = sweep_refund_entry(
        assignment_id="AS1", lender_id="lender-1", seller_id="seller-1", amount=kes(1_000), ref="r/1"
    )
    assert entry.kind is EntryKind.SWEEP_REFUND
    assert [(leg.account, leg.side, leg.amount) for leg in entry.postings] == [
        (LENDER, Side.DEBIT, kes(1_000)),
        (SELLER, Side.CREDIT, kes(1_000)),
    ]
    accounts = open_accounts(refs=[LENDER, SELLER])
    after = apply_entry(balances={LENDER: kes(-4_875), SELLER: kes(-4_875)}, entry=entry, accounts=accounts)
    assert after == {LENDER: kes(-3_875), SELLER: kes(-5_875)}
    assert trial_balance(balances=after) == {"KES": kes(-9_750)}  # unchanged: the entry balances
    with pytest.raises(InsufficientFundsError):  # the ledger refuses it too when the lender was paid
        apply_entry(balances={LENDER: kes(-999), SELLER: kes(0)}, entry=entry, accounts=accounts)
    assert LENDER.kind is AccountKind.LENDER_RECEIVABLE


@given(data=st.data())
def test_an_admitted_refund_never_passes_the_sweeps_or_the_lender(data: st.DataObject) -> None:
    swept = data.draw(st.integers(0, 10**6))
    refunded = data.draw(st.integers(0, swept))
    amount = data.draw(st.integers(1, 2 * 10**6))
    owed = data.draw(st.integers(0, 2 * 10**6))
    left = swept - refunded
    if amount <= left and amount <= owed:
        _check(amount, swept=swept, refunded=refunded, owed=owed)  # admitted: within both
        return
    with pytest.raises(SweepRefundRefused) as caught:
        _check(amount, swept=swept, refunded=refunded, owed=owed)
    assert caught.value.current_state == ("exceeds_swept" if amount > left else "lender_paid_out")
    assert caught.value.available == kes(left if amount > left else owed)
    assert amount > caught.value.available.minor
