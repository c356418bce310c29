"""Platform fee: 250 bps rounded half-even, a 100 minimum per release, never above the release."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.escrow.domain.fees import FeeSchedule, platform_fee, split_fee
from tests.escrow.domain.kit import FEES, kes


@pytest.mark.parametrize(
    ("released", "fee", "why"),
    [
        (60_000, 1_500, "exactly 250 bps"),
        (4_050, 101, "101.25 rounds down"),
        (4_020, 100, "100.5 is a tie: half-even goes to the even 100"),
        (4_060, 102, "101.5 is a tie: half-even goes to the even 102"),
        (4_070, 102, "101.75 rounds up"),
        (1_000, 100, "25 by rate, raised to the 100 minimum"),
        (3_999, 100, "99.975 by rate rounds to 100, equal to the minimum"),
        (150, 100, "the minimum applies to a small release"),
        (100, 100, "the minimum takes the whole release"),
        (60, 60, "the fee is capped at the released amount"),
        (1, 1, "even a single unit: the seller gets nothing, never less"),
        (0, 0, "nothing released, no fee"),
    ],
)
def test_fee_rounding_and_minimum(released: int, fee: int, why: str) -> None:
    assert platform_fee(released=kes(released), schedule=FEES) == kes(fee), why


def test_seller_gets_gross_less_fee() -> None:
    split = split_fee(gross=kes(30_000), schedule=FEES)
    assert (split.gross, split.fee, split.net) == (kes(30_000), kes(750), kes(29_250))


def test_zero_fee_schedule_charges_nothing() -> None:
    assert platform_fee(released=kes(12_345), schedule=FeeSchedule(bps=0, min_minor=0)) == kes(0)


@pytest.mark.parametrize(("bps", "min_minor"), [(-1, 0), (10_001, 0), (250, -1)])
def test_invalid_fee_schedules_are_refused(bps: int, min_minor: int) -> None:
    with pytest.raises(ValueError, match="fee"):
        FeeSchedule(bps=bps, min_minor=min_minor)


def test_negative_release_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        platform_fee(released=kes(-1), schedule=FEES)


@given(
    released=st.integers(min_value=0, max_value=10**12),
    bps=st.integers(min_value=0, max_value=10_000),
    min_minor=st.integers(min_value=0, max_value=10_000),
)
def test_fee_is_bounded_and_split_conserves(released: int, bps: int, min_minor: int) -> None:
    schedule = FeeSchedule(bps=bps, min_minor=min_minor)
    split = split_fee(gross=kes(released), schedule=schedule)
    assert split.fee + split.net == kes(released)
    assert 0 <= split.fee.minor <= released
    assert split.fee.minor >= min(min_minor, released)
