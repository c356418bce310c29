"""Rules of the business date: how far one request may move it, what a correction may do, and
which day close of business closes next.

* A *move* goes forward (or stays), by at most ``max_forward_days`` per request. The first
  setting (the date followed the clock until then) may start anywhere up to
  ``max_forward_days`` after the clock's date, but never before a closed day.
* Anything else — back, or further than a move may go — is a *correction*: possible only
  while no close of business exists for a day after the corrected date, proposed by one
  admin and confirmed by a different person (compared by ``Principal.identity``: the person
  the console acts for, whichever console key it uses, or else the key).
* Close of business advances one day at a time: the day after the last closed day, up to
  the business date (a run left unfinished is resumed first), so days past due grow by one
  each closed day instead of jumping.

Every refusal is a ``BusinessDateRefused`` (a ``ValueError``) naming the rule it broke.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


class BusinessDateRefused(ValueError):
    """A move or correction the rules refuse; ``conflict`` when it is refused by the state."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


def _check_forward(*, start: date, target: date, max_forward_days: int) -> None:
    if (target - start).days > max_forward_days:
        raise BusinessDateRefused(
            f"{target.isoformat()} is {(target - start).days} days after {start.isoformat()}; "
            f"the business date moves forward by at most {max_forward_days} days per request"
        )


def _check_not_before_closed(*, target: date, last_closed: date | None) -> None:
    if last_closed is not None and target < last_closed:
        raise BusinessDateRefused(
            f"close of business already ran for {last_closed.isoformat()}, after "
            f"{target.isoformat()}; the business date cannot move before it",
            conflict=True,
        )


def check_move(
    *, current: date, target: date, last_closed: date | None, max_forward_days: int, first: bool = False
) -> None:
    """Refuse a move that is not forward by at most ``max_forward_days`` (``first``: from the clock)."""
    _check_not_before_closed(target=target, last_closed=last_closed)
    if target < current and not first:
        raise BusinessDateRefused(
            f"{target.isoformat()} is before the business date {current.isoformat()}; moving it back "
            "is a correction (proposed by one admin, confirmed by another)",
            conflict=True,
        )
    _check_forward(start=current, target=target, max_forward_days=max_forward_days)


def check_correction(*, current: date, target: date, last_closed: date | None, max_forward_days: int) -> None:
    """Refuse a correction to the date it would change nothing, or past a closed day, or too far."""
    if target == current:
        raise BusinessDateRefused(f"the business date already is {current.isoformat()}")
    _check_not_before_closed(target=target, last_closed=last_closed)
    _check_forward(start=current, target=target, max_forward_days=max_forward_days)


@dataclass(frozen=True, slots=True)
class Signer:
    """Who proposed or confirms a correction: the person or key (``Principal.identity``)."""

    identity: str


def check_second_person(*, proposer: Signer, confirmer: Signer) -> None:
    """Refuse a confirmation by the proposer: the same person (through any key), or the same key."""
    if proposer.identity == confirmer.identity:
        whom = "person who" if proposer.identity.startswith("person:") else "key that"
        raise BusinessDateRefused(
            "a correction of the business date is confirmed by a second person; "
            f"the {whom} proposed it cannot confirm it",
            conflict=True,
        )


def next_day_to_close(
    *, business_date: date, last_closed: date | None, last_run_complete: bool
) -> date | None:
    """The day close of business closes next (``None``: nothing is due).

    An unfinished run is resumed first; after the last closed day comes the next calendar
    day, up to the business date; with nothing ever closed, the business date itself.
    """
    if last_closed is None:
        return business_date
    if not last_run_complete:
        return last_closed
    if last_closed >= business_date:
        return None
    return last_closed + timedelta(days=1)
