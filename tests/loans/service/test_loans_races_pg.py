"""Races on PostgreSQL: concurrent repayments on one loan, close of business against them.

Every thread sends its own HTTP request through the TestClient (its own session and
transaction), released together by a barrier; close of business runs as the worker runs it.
SQLite serialises every writer, so these races only mean something on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest

from services.loans.service.cob import run_close_of_business
from services.loans.settings import LoansContext
from tests.loans.kit import LoansApi
from tests.support import race

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("postgres_only")]


def _loan(api: LoansApi) -> dict[str, Any]:
    api.set_date("2025-01-10")
    product = api.product(max_repayments=12)
    return api.active_loan(
        product["id"], disburse_on="2025-01-10", principal_minor=2_400_000, number_of_repayments=12
    )


def _paid(api: LoansApi, loan_id: str) -> int:
    return sum(r["paid_minor"] for r in api.schedule(loan_id))


def test_12_repayments_and_their_retries_on_one_loan_apply_exactly_once(api: LoansApi) -> None:
    loan = _loan(api)
    api.set_date("2025-02-20")
    # 14 requests, not more: each holds two pooled connections (reader, then writer) and the
    # pool has 30; 36 requests on one loan exhausted it (26 answered 500 after 30 s).
    amounts = [10_000 + 37 * i for i in range(12)]

    def pay(i: int) -> Any:
        n = i % 12  # threads 12 and 13 retry the first two with the same key and body
        body = {"amount_minor": amounts[n], "date": "2025-02-20", "external_id": f"race-{n}"}
        return api.call(
            "POST",
            f"/v1/loans/{loan['id']}/repayments",
            as_="officer",
            json=body,
            headers={"Idempotency-Key": f"race-{n}"},
        )

    responses = race(14, pay)
    statuses = Counter(r.status_code for r in responses)
    assert statuses[201] >= 12 and set(statuses) <= {200, 201, 409}, statuses
    txns = [t for t in api.transactions(loan["id"]) if t["kind"] == "repayment"]
    assert sorted(t["amount_minor"] for t in txns) == sorted(amounts)
    assert len({t["sequence"] for t in txns}) == 12
    assert _paid(api, loan["id"]) == sum(amounts)
    state = api.loan(loan["id"])
    schedule_total = sum(r["total_minor"] for r in api.schedule(loan["id"]))
    assert state["outstanding"]["total_minor"] == schedule_total - sum(amounts)


def test_close_of_business_against_repayments_stays_consistent(api: LoansApi, ctx: LoansContext) -> None:
    loans = [_loan(api) for _ in range(3)]
    api.set_date("2025-02-12")  # the first installments fell due on the 10th: COB charges arrears

    def act(i: int) -> Any:
        if i == 0:
            return run_close_of_business(ctx, as_of=api_date(api), actor="admin:race")
        loan = loans[i % 3]
        body = {"amount_minor": 5_000 + i, "date": "2025-02-12", "external_id": f"cob-race-{i}"}
        return api.call(
            "POST",
            f"/v1/loans/{loan['id']}/repayments",
            as_="officer",
            json=body,
            headers={"Idempotency-Key": f"cob-race-{i}"},
        )

    results = race(10, act)
    assert all(r.status_code == 201 for r in results[1:]), [r.text for r in results[1:]]
    again = run_close_of_business(ctx, as_of=api_date(api), actor="admin:race")
    assert again.status == "completed"
    for n, loan in enumerate(loans):
        paid = sum(5_000 + i for i in range(1, 10) if i % 3 == n)
        assert _paid(api, loan["id"]) == paid
        view = api.loan(loan["id"])
        schedule = api.schedule(loan["id"])
        due = sum(r["total_minor"] for r in schedule)
        assert view["outstanding"]["total_minor"] == sum(r["outstanding_minor"] for r in schedule)
        assert view["outstanding"]["total_minor"] + paid == due
        penalties = [t for t in api.transactions(loan["id"]) if t["kind"] == "penalty"]
        assert len({(t.get("installment_number"), t["date"]) for t in penalties}) == len(penalties)


def api_date(api: LoansApi) -> dt.date:
    return dt.date.fromisoformat(api.get("/v1/business-date", as_="admin")["date"])
