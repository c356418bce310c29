"""Platform fee on released escrow money.

The fee is charged on each release (a lot accepted in full or in part, auto-released, or the
seller's share of a dispute resolution), never on money refunded to the buyer::

    fee = min(released, max(round_half_even(released * bps / 10_000), min_minor))

Rounding rule: the exact product ``released * bps / 10_000`` (computed in ``Decimal``, no
float) is rounded to a whole minor unit with ROUND_HALF_EVEN (banker's rounding): 100.5
becomes 100, 101.5 becomes 102, 101.25 becomes 101. The minimum then applies per release,
so many small releases each pay at least ``min_minor``; and the fee never exceeds the
amount released, so a release can leave the seller nothing but never less than nothing.
The seller receives ``released - fee`` (before any assignment of proceeds to a lender).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.money import Money, RoundingMode

FEE_ROUNDING = RoundingMode.HALF_EVEN
"""The rounding mode of the basis-point fee."""


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """The platform's fee terms, fixed on an escrow when it is opened."""

    bps: int
    min_minor: int

    def __post_init__(self) -> None:
        if not 0 <= self.bps <= 10_000:
            raise ValueError(f"fee bps must be within 0..10000, got {self.bps}")
        if self.min_minor < 0:
            raise ValueError(f"minimum fee must not be negative, got {self.min_minor}")


@dataclass(frozen=True, slots=True)
class FeeSplit:
    """A released gross amount split into the platform fee and the seller's net."""

    gross: Money
    fee: Money
    net: Money


def platform_fee(*, released: Money, schedule: FeeSchedule) -> Money:
    """The fee on ``released``: bps rounded half-even, at least the minimum, at most all of it."""
    if released.minor < 0:
        raise ValueError(f"released amount must not be negative, got {released}")
    if released.is_zero():
        return released
    by_rate = released.basis_points(schedule.bps, FEE_ROUNDING)
    fee = max(by_rate.minor, schedule.min_minor)
    return Money(min(fee, released.minor), released.currency)


def split_fee(*, gross: Money, schedule: FeeSchedule) -> FeeSplit:
    """Split a released ``gross`` into fee and net-to-seller; the two always sum to ``gross``."""
    fee = platform_fee(released=gross, schedule=schedule)
    return FeeSplit(gross=gross, fee=fee, net=gross - fee)
