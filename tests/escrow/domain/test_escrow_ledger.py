"""The double-entry ledger: legs, balanced entries, signed balances, the non-negative rule."""

from __future__ import annotations

import pytest

from services.escrow.domain.ledger import (
    ACCOUNT_KIND_RULES,
    AccountCategory,
    AccountKind,
    AccountRef,
    EntryKind,
    InsufficientFundsError,
    InvalidPostingError,
    Posting,
    Side,
    UnbalancedEntryError,
    UnknownAccountError,
    apply_entry,
    build_entry,
    credit,
    debit,
    guarded_accounts,
    open_account,
    open_accounts,
    trial_balance,
)
from shared.money import Money
from tests.escrow.domain.kit import kes

CLEARING = AccountRef(AccountKind.PROVIDER_CLEARING, "sandbox", "KES")
HOLDING = AccountRef(AccountKind.ESCROW_HOLDING, "E1", "KES")
SELLER = AccountRef(AccountKind.SELLER_PAYABLE, "S1", "KES")
FEE = AccountRef(AccountKind.PLATFORM_FEE_REVENUE, "platform", "KES")
ACCOUNTS = open_accounts(refs=[CLEARING, HOLDING, SELLER, FEE])


def test_account_kinds_and_their_rules() -> None:
    table = {
        kind.value: (rules.category.value, rules.normal_side.value, rules.may_go_negative)
        for kind, rules in ACCOUNT_KIND_RULES.items()
    }
    assert table == {
        "provider_clearing": ("asset", "debit", True),
        "payout_clearing": ("liability", "credit", True),
        "escrow_holding": ("liability", "credit", False),
        "seller_payable": ("liability", "credit", False),
        "buyer_refund_payable": ("liability", "credit", False),
        "lender_receivable": ("liability", "credit", False),
        "platform_fee_revenue": ("revenue", "credit", False),
    }
    assert set(ACCOUNT_KIND_RULES) == set(AccountKind)
    assert ACCOUNT_KIND_RULES[AccountKind.PLATFORM_FEE_REVENUE].category is AccountCategory.REVENUE


def test_funding_entry_moves_signed_balances_and_sums_to_zero() -> None:
    entry = build_entry(
        kind=EntryKind.FUNDING,
        postings=[debit(CLEARING, kes(10_000)), credit(HOLDING, kes(10_000))],
        memo="buyer paid",
        ref="f1",
    )
    balances = apply_entry(balances={}, entry=entry, accounts=ACCOUNTS)
    # Debit +, credit -: the asset is at +10,000, the liability at -10,000 ...
    assert balances == {CLEARING: kes(10_000), HOLDING: kes(-10_000)}
    # ... and both read 10,000 on their normal side.
    assert ACCOUNTS[HOLDING].normal_balance(balances[HOLDING]) == kes(10_000)
    assert ACCOUNTS[CLEARING].normal_balance(balances[CLEARING]) == kes(10_000)
    assert trial_balance(balances=balances) == {"KES": kes(0)}


def test_apply_entry_is_pure() -> None:
    before = {CLEARING: kes(5), HOLDING: kes(-5)}
    snapshot = dict(before)
    entry = build_entry(
        kind=EntryKind.FUNDING,
        postings=[debit(CLEARING, kes(1)), credit(HOLDING, kes(1))],
        memo="",
        ref="r",
    )
    after = apply_entry(balances=before, entry=entry, accounts=ACCOUNTS)
    assert before == snapshot
    assert after == {CLEARING: kes(6), HOLDING: kes(-6)}


def test_unbalanced_entry_is_refused() -> None:
    with pytest.raises(UnbalancedEntryError, match="does not balance in KES"):
        build_entry(
            kind=EntryKind.RELEASE,
            postings=[debit(HOLDING, kes(60_000)), credit(SELLER, kes(58_500))],
            memo="forgot the fee",
            ref="bad",
        )


def test_entry_must_balance_per_currency_not_in_total() -> None:
    ugx_clearing = AccountRef(AccountKind.PROVIDER_CLEARING, "sandbox", "UGX")
    with pytest.raises(UnbalancedEntryError, match="does not balance"):
        build_entry(
            kind=EntryKind.FUNDING,
            postings=[debit(ugx_clearing, Money(100, "UGX")), credit(HOLDING, kes(100))],
            memo="",
            ref="fx",
        )


def test_single_leg_entry_is_refused() -> None:
    with pytest.raises(UnbalancedEntryError, match="two legs"):
        build_entry(kind=EntryKind.FUNDING, postings=[debit(CLEARING, kes(1))], memo="", ref="x")


@pytest.mark.parametrize("minor", [0, -1])
def test_non_positive_leg_is_refused(minor: int) -> None:
    with pytest.raises(InvalidPostingError, match="must be positive"):
        Posting(HOLDING, Side.CREDIT, kes(minor))


def test_leg_in_another_currency_than_its_account_is_refused() -> None:
    with pytest.raises(InvalidPostingError, match="leg of UGX"):
        credit(HOLDING, Money(100, "UGX"))


def test_entry_needs_a_reference() -> None:
    with pytest.raises(InvalidPostingError, match="reference"):
        build_entry(
            kind=EntryKind.FUNDING,
            postings=[debit(CLEARING, kes(1)), credit(HOLDING, kes(1))],
            memo="",
            ref="",
        )


def test_entries_are_immutable() -> None:
    entry = build_entry(
        kind=EntryKind.FUNDING,
        postings=[debit(CLEARING, kes(1)), credit(HOLDING, kes(1))],
        memo="",
        ref="r",
    )
    with pytest.raises(AttributeError):
        entry.memo = "edited"  # type: ignore[misc]
    assert isinstance(entry.postings, tuple)


def test_overdrawing_a_non_negative_account_is_refused() -> None:
    balances = {CLEARING: kes(1_000), HOLDING: kes(-1_000)}
    release = build_entry(
        kind=EntryKind.RELEASE,
        postings=[debit(HOLDING, kes(1_001)), credit(SELLER, kes(1_001))],
        memo="one unit too many",
        ref="r1",
    )
    with pytest.raises(InsufficientFundsError) as caught:
        apply_entry(balances=balances, entry=release, accounts=ACCOUNTS)
    assert caught.value.account == HOLDING
    assert caught.value.normal_balance == kes(1_000)
    assert caught.value.change == kes(-1_001)
    assert caught.value.status_code == 409


def test_clearing_accounts_may_go_negative() -> None:
    # A payout settled by the provider before we recorded the funding: recorded, not refused.
    payout_clearing = AccountRef(AccountKind.PAYOUT_CLEARING, "sandbox", "KES")
    accounts = open_accounts(refs=[CLEARING, payout_clearing])
    settled = build_entry(
        kind=EntryKind.PAYOUT_SETTLED,
        postings=[debit(payout_clearing, kes(500)), credit(CLEARING, kes(500))],
        memo="",
        ref="s1",
    )
    balances = apply_entry(balances={}, entry=settled, accounts=accounts)
    assert accounts[CLEARING].normal_balance(balances[CLEARING]) == kes(-500)


def test_posting_to_an_unopened_account_is_refused() -> None:
    entry = build_entry(
        kind=EntryKind.RELEASE,
        postings=[debit(HOLDING, kes(1)), credit(SELLER, kes(1))],
        memo="",
        ref="r",
    )
    with pytest.raises(UnknownAccountError, match="seller_payable:S1:KES"):
        apply_entry(balances={}, entry=entry, accounts={HOLDING: ACCOUNTS[HOLDING]})


def test_only_accounts_the_entry_lowers_need_a_lock_in_sorted_order() -> None:
    release = build_entry(
        kind=EntryKind.RELEASE,
        postings=[debit(HOLDING, kes(100)), credit(FEE, kes(10)), credit(SELLER, kes(90))],
        memo="",
        ref="r",
    )
    assert guarded_accounts(entry=release, accounts=ACCOUNTS) == (HOLDING,)
    payout = build_entry(
        kind=EntryKind.PAYOUT,
        postings=[debit(SELLER, kes(5)), debit(HOLDING, kes(5)), credit(CLEARING, kes(10))],
        memo="",
        ref="p",
    )
    # Clearing may go negative: no lock. Two guarded accounts come out in AccountRef order.
    assert guarded_accounts(entry=payout, accounts=ACCOUNTS) == tuple(sorted([SELLER, HOLDING]))


def test_legs_on_the_same_account_are_netted() -> None:
    entry = build_entry(
        kind=EntryKind.RELEASE,
        postings=[debit(HOLDING, kes(100)), credit(HOLDING, kes(40)), credit(SELLER, kes(60))],
        memo="",
        ref="r",
    )
    assert entry.net_changes() == {HOLDING: kes(60), SELLER: kes(-60)}


def test_account_refs_print_and_refuse_unknown_currency() -> None:
    assert str(HOLDING) == "escrow_holding:E1:KES"
    assert open_account(kind=AccountKind.ESCROW_HOLDING, owner="E1", currency="KES").ref == HOLDING
    with pytest.raises(ValueError, match="currency"):
        AccountRef(AccountKind.ESCROW_HOLDING, "E1", "XXX")
    with pytest.raises(ValueError, match="owner"):
        AccountRef(AccountKind.ESCROW_HOLDING, "", "KES")
