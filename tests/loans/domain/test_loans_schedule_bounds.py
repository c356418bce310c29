"""The schedule refuses an installment multiple larger than the principal (issue 9)."""

from __future__ import annotations

import pytest

from tests.loans.domain.kit import build, terms


def test_an_installment_multiple_larger_than_the_principal_is_refused() -> None:
    with pytest.raises(ValueError, match=r"installment_multiple_of_minor \(10000001\) must not be larger"):
        build(terms(installment_multiple_of_minor=10_000_001), principal=10_000_000)
    schedule = build(terms(installment_multiple_of_minor=10_000_000), principal=10_000_000, n=1)
    assert schedule.rows[0].principal_minor == 10_000_000
