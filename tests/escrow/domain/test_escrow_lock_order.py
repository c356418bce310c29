"""The global lock order of the ledger repository (pure: no database needed)."""

from __future__ import annotations

from services.escrow.domain.ledger import AccountKind, AccountRef
from services.escrow.repository.ledger import HOT_KINDS, lock_key


def test_ordinary_accounts_lock_before_the_hot_shared_ones_each_in_account_order() -> None:
    refs = [AccountRef(kind, owner, "KES") for kind in AccountKind for owner in ("b", "a")]
    ordered = sorted(refs, key=lock_key)
    ordinary = [r for r in ordered if r.kind not in HOT_KINDS]
    hot = [r for r in ordered if r.kind in HOT_KINDS]
    assert ordered == ordinary + hot
    assert ordinary == sorted(ordinary) and hot == sorted(hot)
    assert {r.kind for r in hot} == {
        AccountKind.PROVIDER_CLEARING,
        AccountKind.PAYOUT_CLEARING,
        AccountKind.PLATFORM_FEE_REVENUE,
    }


def test_hot_accounts_are_never_guarded_so_never_need_a_read_lock() -> None:
    from services.escrow.domain.ledger import ACCOUNT_KIND_RULES, Side

    for kind in HOT_KINDS:
        rules = ACCOUNT_KIND_RULES[kind]
        # clearing accounts may go negative; fee revenue only ever receives credits (its normal side)
        credit_only = kind is AccountKind.PLATFORM_FEE_REVENUE and rules.normal_side is Side.CREDIT
        assert rules.may_go_negative or credit_only
