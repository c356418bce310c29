"""Assignment of proceeds: lenders' shares round down, stop at the cap, never lose a unit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.escrow.domain.assignment import (
    Assignment,
    Sweep,
    record_sweeps,
    split_release,
)
from tests.escrow.domain.kit import kes


def assignment(aid: str, bps: int, cap: int, swept: int = 0, lender: str = "L1") -> Assignment:
    return Assignment(aid, lender, share_bps=bps, cap=kes(cap), swept=kes(swept))


def test_no_assignment_everything_to_seller() -> None:
    assert split_release(net_to_seller=kes(58_500), assignments=()) == (kes(58_500), ())


def test_share_rounds_down_and_the_remainder_stays_with_the_seller() -> None:
    loan = assignment("AS1", bps=3_333, cap=1_000_000)
    to_seller, sweeps = split_release(net_to_seller=kes(1_001), assignments=[loan])
    # 1,001 x 33.33% = 333.6333 -> 333 to the lender, 668 to the seller.
    assert sweeps == (Sweep(loan, kes(333)),)
    assert to_seller == kes(668)


def test_sweep_stops_at_the_remaining_cap() -> None:
    loan = assignment("AS1", bps=5_000, cap=10_000, swept=9_000)
    to_seller, sweeps = split_release(net_to_seller=kes(20_000), assignments=[loan])
    assert sweeps == (Sweep(loan, kes(1_000)),)
    assert to_seller == kes(19_000)


def test_repaid_assignment_takes_nothing() -> None:
    loan = assignment("AS1", bps=5_000, cap=10_000, swept=10_000)
    assert loan.is_repaid
    assert split_release(net_to_seller=kes(20_000), assignments=[loan]) == (kes(20_000), ())


def test_two_lenders_share_the_same_base_order_does_not_matter() -> None:
    first = assignment("AS1", bps=2_000, cap=50_000, lender="L1")
    second = assignment("AS2", bps=1_000, cap=50_000, lender="L2")
    a = split_release(net_to_seller=kes(10_001), assignments=[first, second])
    b = split_release(net_to_seller=kes(10_001), assignments=[second, first])
    assert a.to_seller == b.to_seller == kes(10_001 - 2_000 - 1_000)
    assert {s.assignment.assignment_id: s.amount for s in a.sweeps} == {
        s.assignment.assignment_id: s.amount for s in b.sweeps
    }


def test_shares_over_100_percent_are_refused() -> None:
    loans = [assignment("AS1", bps=6_000, cap=100), assignment("AS2", bps=5_000, cap=100)]
    with pytest.raises(ValueError, match="10000 bps"):
        split_release(net_to_seller=kes(100), assignments=loans)


def test_currency_mismatch_is_refused() -> None:
    loan = Assignment("AS1", "L1", share_bps=100, cap=kes(100), swept=kes(0))
    from shared.money import Money

    with pytest.raises(ValueError, match="currency"):
        split_release(net_to_seller=Money(100, "UGX"), assignments=[loan])


@pytest.mark.parametrize(
    ("bps", "cap", "swept"), [(0, 100, 0), (10_001, 100, 0), (100, 0, 0), (100, 100, 101)]
)
def test_invalid_assignments_are_refused(bps: int, cap: int, swept: int) -> None:
    with pytest.raises(ValueError, match=r"share|cap|swept"):
        assignment("AS1", bps=bps, cap=cap, swept=swept)


def test_record_sweeps_adds_to_what_was_swept() -> None:
    loan, other = assignment("AS1", 2_000, 5_000), assignment("AS2", 1_000, 5_000)
    split = split_release(net_to_seller=kes(10_000), assignments=[loan, other])
    after = record_sweeps(assignments=[loan, other], sweeps=split.sweeps)
    assert [a.swept for a in after] == [kes(2_000), kes(1_000)]


@st.composite
def assignments_strategy(draw: st.DrawFn) -> list[Assignment]:
    count = draw(st.integers(min_value=0, max_value=4))
    budget = 10_000
    result = []
    for index in range(count):
        bps = draw(st.integers(min_value=1, max_value=max(1, budget)))
        if bps > budget:
            break
        budget -= bps
        cap = draw(st.integers(min_value=1, max_value=10**7))
        swept = draw(st.integers(min_value=0, max_value=cap))
        result.append(assignment(f"AS{index}", bps, cap, swept, lender=f"L{index % 2}"))
    return result


@given(net=st.integers(min_value=0, max_value=10**10), loans=assignments_strategy())
def test_split_conserves_and_respects_caps(net: int, loans: list[Assignment]) -> None:
    to_seller, sweeps = split_release(net_to_seller=kes(net), assignments=loans)
    assert to_seller.minor + sum(s.amount.minor for s in sweeps) == net
    assert to_seller.minor >= 0
    for sweep in sweeps:
        assert 0 < sweep.amount.minor <= sweep.assignment.remaining.minor
        exact_share = net * sweep.assignment.share_bps // 10_000
        assert sweep.amount.minor <= exact_share
    after = record_sweeps(assignments=loans, sweeps=sweeps)
    assert all(a.swept <= a.cap for a in after)
