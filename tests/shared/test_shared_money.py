"""Money: integer minor units, no mixing, no unit created or lost."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.money import (
    CurrencyError,
    CurrencyMismatchError,
    Money,
    RoundingMode,
    minor_exponent,
    round_decimal,
)


def test_minor_unit_exponents_follow_iso_4217() -> None:
    assert minor_exponent("KES") == 2
    assert minor_exponent("UGX") == 0
    assert minor_exponent("KWD") == 3


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(CurrencyError):
        Money(100, "XYZ")


def test_float_amounts_are_refused() -> None:
    with pytest.raises(TypeError):
        Money(1.5, "KES")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(100, "KES").multiply(1.5)  # type: ignore[arg-type]


def test_currencies_never_mix() -> None:
    with pytest.raises(CurrencyMismatchError):
        _ = Money(100, "KES") + Money(100, "UGX")
    with pytest.raises(CurrencyMismatchError):
        _ = Money(100, "KES") < Money(100, "USD")


def test_major_units_parse_exactly() -> None:
    assert Money.from_major("12.34", "KES") == Money(1234, "KES")
    assert Money.from_major("1500", "UGX") == Money(1500, "UGX")
    assert Money(1234, "KWD").to_major() == Decimal("1.234")


def test_split_gives_the_remainder_to_the_first_parts() -> None:
    assert Money(1001, "KES").split(3) == [Money(334, "KES"), Money(334, "KES"), Money(333, "KES")]


def test_allocation_by_ratio_uses_largest_remainders() -> None:
    # 100 by 1:1:1 → 33.33 each; the leftover unit goes to the earliest tie.
    assert [m.minor for m in Money(100, "USD").allocate([1, 1, 1])] == [34, 33, 33]
    # 70/30 of 99 → 69.3 / 29.7: the 30 share has the larger remainder.
    assert [m.minor for m in Money(99, "USD").allocate([70, 30])] == [69, 30]


@given(
    amount=st.integers(min_value=-(10**12), max_value=10**12),
    ratios=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=12).filter(any),
)
def test_allocation_never_creates_or_loses_a_unit(amount: int, ratios: list[int]) -> None:
    parts = Money(amount, "KES").allocate(ratios)
    assert sum(p.minor for p in parts) == amount
    assert len(parts) == len(ratios)


@pytest.mark.parametrize(
    ("value", "mode", "expected"),
    [
        ("2.5", RoundingMode.HALF_EVEN, 2),
        ("3.5", RoundingMode.HALF_EVEN, 4),
        ("2.5", RoundingMode.HALF_UP, 3),
        ("2.5", RoundingMode.HALF_DOWN, 2),
        ("2.1", RoundingMode.UP, 3),
        ("2.9", RoundingMode.DOWN, 2),
        ("-2.1", RoundingMode.FLOOR, -3),
        ("-2.9", RoundingMode.CEILING, -2),
    ],
)
def test_rounding_modes_are_explicit(value: str, mode: RoundingMode, expected: int) -> None:
    assert round_decimal(Decimal(value), mode) == expected


def test_percentages_round_half_even_by_default() -> None:
    # 2.5% of 1,010 minor = 25.25 → 25; basis points: 250 bps of 1,020 = 25.5 → 26 (even)
    assert Money(1010, "KES").percentage(Decimal("2.5")) == Money(25, "KES")
    assert Money(1020, "KES").basis_points(250) == Money(26, "KES")
    assert Money(1020, "KES").basis_points(250, RoundingMode.DOWN) == Money(25, "KES")
