"""Decision-policy races on PostgreSQL: concurrent new versions get distinct numbers; concurrent
applications of one borrower cannot together pass ``max_open_loans``.

SQLite serialises every writer, so these races only mean something on PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.factories.loans import FARMER_FEATURES
from tests.loans.kit import LoansApi
from tests.support import race

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("postgres_only")]

POLICY: dict[str, Any] = {
    "auto_approve_min_score": "600",
    "auto_approve_max_principal_minor": 2_000_000,
    "auto_decline_below_score": "520",
}


def test_concurrent_changes_each_get_their_own_version(api: LoansApi) -> None:
    product = api.product()
    path = f"/v1/products/{product['id']}/decision-policy"

    def change(i: int) -> Any:
        body = {**POLICY, "max_open_loans": i + 1}
        return api.call("POST", path, as_="manager", json=body, headers={"Idempotency-Key": f"p-{i}"})

    responses = race(6, change)
    assert [r.status_code for r in responses] == [201] * 6, [r.text for r in responses]
    history = api.get(f"{path}/versions")
    assert sorted(h["version"] for h in history) == [1, 2, 3, 4, 5, 6]
    assert sorted(h["rules"]["max_open_loans"] for h in history) == [1, 2, 3, 4, 5, 6]


def test_concurrent_applications_of_one_borrower_keep_the_open_loan_limit(api: LoansApi) -> None:
    product, borrower = api.product(), api.borrower()
    api.post(
        f"/v1/products/{product['id']}/decision-policy",
        {**POLICY, "max_open_loans": 2},
        as_="manager",
        expect=201,
    )

    def apply(i: int) -> Any:
        body = {
            "product_id": product["id"],
            "borrower_id": borrower["id"],
            "principal_minor": 1_200_000,
            "annual_interest_rate": "18",
            "number_of_repayments": 6,
            "disbursement_date": "2026-01-15",
            "features": {**FARMER_FEATURES, "years_farming": 12},
        }
        return api.call(
            "POST", "/v1/applications", as_="officer", json=body, headers={"Idempotency-Key": f"a-{i}"}
        )

    responses = race(6, apply)
    assert [r.status_code for r in responses] == [201] * 6, [r.text for r in responses]
    assert Counter(r.json()["status"] for r in responses) == {"approved": 2, "scored": 4}
