"""The business date's rules: bounded forward moves, corrections by a second person while
no later day is closed, and close of business one day at a time."""

from __future__ import annotations

from datetime import date

import pytest

from services.loans.domain.business_date import (
    BusinessDateRefused,
    Signer,
    check_correction,
    check_move,
    check_second_person,
    next_day_to_close,
)

D = date(2025, 3, 1)


def test_a_move_goes_forward_by_at_most_the_configured_days() -> None:
    check_move(current=D, target=date(2025, 4, 1), last_closed=None, max_forward_days=31)
    check_move(current=D, target=D, last_closed=D, max_forward_days=31)
    with pytest.raises(BusinessDateRefused, match="at most 31 days") as refused:
        check_move(current=D, target=date(7025, 3, 1), last_closed=None, max_forward_days=31)
    assert not refused.value.conflict
    with pytest.raises(BusinessDateRefused, match="correction") as back:
        check_move(current=D, target=date(2025, 2, 28), last_closed=None, max_forward_days=31)
    assert back.value.conflict


def test_the_first_setting_may_start_before_the_clock_but_not_far_after_it() -> None:
    check_move(current=D, target=date(2024, 1, 1), last_closed=None, max_forward_days=31, first=True)
    with pytest.raises(BusinessDateRefused, match="at most 31 days"):
        check_move(current=D, target=date(2025, 4, 2), last_closed=None, max_forward_days=31, first=True)
    with pytest.raises(BusinessDateRefused, match="already ran"):
        check_move(current=D, target=date(2025, 1, 1), last_closed=D, max_forward_days=31, first=True)


def test_a_correction_is_possible_only_while_no_later_day_is_closed() -> None:
    check_correction(current=D, target=date(2025, 1, 1), last_closed=None, max_forward_days=31)
    check_correction(current=D, target=date(2025, 2, 1), last_closed=date(2025, 2, 1), max_forward_days=31)
    with pytest.raises(BusinessDateRefused, match="already ran for 2025-02-02"):
        check_correction(
            current=D, target=date(2025, 2, 1), last_closed=date(2025, 2, 2), max_forward_days=31
        )
    with pytest.raises(BusinessDateRefused, match="already is"):
        check_correction(current=D, target=D, last_closed=None, max_forward_days=31)
    with pytest.raises(BusinessDateRefused, match="at most 31 days"):
        check_correction(current=D, target=date(9999, 12, 31), last_closed=None, max_forward_days=31)


def test_the_proposer_cannot_confirm_a_correction() -> None:
    check_second_person(proposer=Signer("key:k1"), confirmer=Signer("key:k2"))
    check_second_person(proposer=Signer("person:alice"), confirmer=Signer("person:bob"))
    check_second_person(proposer=Signer("person:alice"), confirmer=Signer("key:k1"))
    with pytest.raises(BusinessDateRefused, match="second person; the key that proposed it"):
        check_second_person(proposer=Signer("key:k1"), confirmer=Signer("key:k1"))
    with pytest.raises(BusinessDateRefused, match="the person who proposed it cannot confirm it"):
        check_second_person(proposer=Signer("person:alice"), confirmer=Signer("person:alice"))


def test_close_of_business_advances_one_day_at_a_time() -> None:
    assert next_day_to_close(business_date=D, last_closed=None, last_run_complete=True) == D
    after = next_day_to_close(business_date=D, last_closed=date(2025, 2, 26), last_run_complete=True)
    assert after == date(2025, 2, 27)
    assert next_day_to_close(business_date=D, last_closed=D, last_run_complete=True) is None
    resumed = next_day_to_close(business_date=D, last_closed=date(2025, 2, 20), last_run_complete=False)
    assert resumed == date(2025, 2, 20)
