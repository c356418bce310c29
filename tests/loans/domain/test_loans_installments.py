"""An installment's status: paid, overdue, partially paid, upcoming."""

from __future__ import annotations

import pytest

from services.loans.domain.installments import InstallmentStatus, installment_status


@pytest.mark.parametrize(
    ("due", "paid", "overdue", "status"),
    [
        (103_500, 103_500, False, InstallmentStatus.PAID),
        (103_500, 103_500, True, InstallmentStatus.PAID),  # settled late is still paid
        (103_500, 0, True, InstallmentStatus.OVERDUE),
        (103_500, 50_000, True, InstallmentStatus.OVERDUE),
        (103_500, 50_000, False, InstallmentStatus.PARTIALLY_PAID),
        (103_500, 0, False, InstallmentStatus.UPCOMING),
    ],
)
def test_installment_status(due: int, paid: int, overdue: bool, status: InstallmentStatus) -> None:
    assert installment_status(due_minor=due, paid_minor=paid, overdue=overdue) is status


def test_the_values_are_what_the_api_answers() -> None:
    assert [s.value for s in InstallmentStatus] == ["paid", "overdue", "partially_paid", "upcoming"]
