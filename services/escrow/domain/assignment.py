"""Assignment of proceeds: a share of a seller's releases swept to a lender until a cap is repaid.

A seller with a loan can assign ``share_bps`` of every release (the seller's net, after the
platform fee) to the lender, until ``cap`` has been swept in total. ``split_release``
splits one net release between the seller and the active assignments:

* each assignment's share is computed on the same base (the whole net), so the order of the
  assignments never changes what a lender receives;
* each share is rounded DOWN to a whole minor unit, and then limited to what is left of the
  assignment's cap; every unit not swept (rounding remainders included) stays with the seller;
* the shares of all active assignments of one currency may add up to at most 10,000 bps.

So ``to_seller + sum(sweeps) == net`` exactly: no minor unit is created or lost.

A sweep that over-pays its loan (it raced the final repayment) is refunded to the seller:
``check_sweep_refund`` admits a refund only up to what the assignment swept and has not
refunded yet, and only up to what the lender's receivable still holds (money already paid
out to the lender is no longer escrow's to give back).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from shared.money import Money, RoundingMode

SHARE_ROUNDING = RoundingMode.DOWN
"""Lender shares round down; the remainder stays with the seller."""


@dataclass(frozen=True, slots=True)
class Assignment:
    """A seller's assignment of ``share_bps`` of each release to a lender, up to ``cap``."""

    assignment_id: str
    lender_id: str
    share_bps: int
    cap: Money
    swept: Money

    def __post_init__(self) -> None:
        if not 0 < self.share_bps <= 10_000:
            raise ValueError(f"share must be within 1..10000 bps, got {self.share_bps}")
        if self.cap.minor <= 0:
            raise ValueError(f"assignment cap must be positive, got {self.cap}")
        if not 0 <= self.swept.minor <= self.cap.minor or self.swept.currency != self.cap.currency:
            raise ValueError(f"swept {self.swept} must be within 0..cap {self.cap}")

    @property
    def remaining(self) -> Money:
        """What is still to be swept before the assignment is repaid."""
        return self.cap - self.swept

    @property
    def is_repaid(self) -> bool:
        """True once the cap has been swept in full."""
        return self.swept == self.cap


class Sweep(NamedTuple):
    """An amount of one release swept to the lender of one assignment."""

    assignment: Assignment
    amount: Money


class ReleaseSplit(NamedTuple):
    """A net release split into the seller's part and the lenders' sweeps."""

    to_seller: Money
    sweeps: tuple[Sweep, ...]


def split_release(*, net_to_seller: Money, assignments: Sequence[Assignment]) -> ReleaseSplit:
    """Split the seller's net release between the seller and the assignments' lenders."""
    if net_to_seller.minor < 0:
        raise ValueError(f"net release must not be negative, got {net_to_seller}")
    active = [a for a in assignments if not a.is_repaid]
    if any(a.cap.currency != net_to_seller.currency for a in active):
        raise ValueError("an assignment is in another currency than the release")
    if sum(a.share_bps for a in active) > 10_000:
        raise ValueError("active assignments claim more than 10000 bps of a release")
    sweeps = []
    for assignment in active:
        share = net_to_seller.basis_points(assignment.share_bps, SHARE_ROUNDING)
        amount = min(share, assignment.remaining)
        if amount.minor > 0:
            sweeps.append(Sweep(assignment, amount))
    swept_total = sum(s.amount.minor for s in sweeps)
    to_seller = Money(net_to_seller.minor - swept_total, net_to_seller.currency)
    return ReleaseSplit(to_seller=to_seller, sweeps=tuple(sweeps))


def record_sweeps(*, assignments: Sequence[Assignment], sweeps: Iterable[Sweep]) -> tuple[Assignment, ...]:
    """The assignments with ``sweeps`` added to what each has swept so far."""
    added: dict[str, Money] = {}
    for sweep in sweeps:
        key = sweep.assignment.assignment_id
        added[key] = added.get(key, Money.zero(sweep.amount.currency)) + sweep.amount
    return tuple(
        replace(a, swept=a.swept + added[a.assignment_id]) if a.assignment_id in added else a
        for a in assignments
    )


# --- refunds of swept money -----------------------------------------------------------------


class SweepRefundRefused(ValueError):
    """A refund that the assignment's sweeps, or the lender's receivable, cannot cover."""

    def __init__(self, detail: str, *, current_state: str, available: Money) -> None:
        super().__init__(detail)
        self.current_state = current_state
        self.available = available


def refundable(*, swept: Money, refunded: Money) -> Money:
    """What of an assignment's sweeps may still go back to the seller."""
    if not 0 <= refunded.minor <= swept.minor:
        raise ValueError(f"refunded {refunded} must be within 0..swept {swept}")
    return swept - refunded


def check_sweep_refund(
    *, assignment_id: str, lender_id: str, amount: Money, swept: Money, refunded: Money, lender_owed: Money
) -> None:
    """Refuse (``SweepRefundRefused``) a refund the sweeps or the lender's receivable cannot cover.

    ``lender_owed`` is the lender receivable's normal balance: what escrow still holds for
    the lender, across all of that lender's assignments in the currency.
    """
    if amount.minor <= 0:
        raise ValueError(f"a refund must be positive, got {amount}")
    left = refundable(swept=swept, refunded=refunded)
    if amount > left:
        raise SweepRefundRefused(
            f"assignment {assignment_id} swept {swept.minor} {swept.currency} and has refunded "
            f"{refunded.minor}: at most {left.minor} can be refunded, not {amount.minor}",
            current_state="exceeds_swept",
            available=left,
        )
    if amount > lender_owed:
        raise SweepRefundRefused(
            f"lender {lender_id!r} has been paid out: escrow holds only {lender_owed.minor} "
            f"{lender_owed.currency} for it, so {amount.minor} cannot be refunded to the seller "
            "through escrow",
            current_state="lender_paid_out",
            available=lender_owed,
        )
