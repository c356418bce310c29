"""Concurrent repayments on one loan serialise on its row lock and stay consistent.

Runs on PostgreSQL (row locks, READ COMMITTED) when AGRIFIN_TEST_POSTGRES_URL is set, and on
SQLite (writers serialised) always.
"""

from __future__ import annotations

import threading
from typing import Any

from services.loans.domain import LoanAccount
from services.loans.domain.projection import transactions_from_rows
from services.loans.models import Allocation
from services.loans.repository import accounts as repo
from services.loans.service.accounts import account_of
from shared.platform import ServiceContext
from tests.loans.kit import LoansApi
from tests.support import count_rows


def test_concurrent_repayments_on_one_loan(api: LoansApi, ctx: ServiceContext) -> None:
    api.set_date("2025-01-10")
    product = api.product(max_repayments=12)
    loan = api.active_loan(
        product["id"], disburse_on="2025-01-10", principal_minor=2_400_000, number_of_repayments=12
    )
    api.set_date("2025-04-20")
    amounts = [37_000 + 1_111 * i for i in range(10)]
    statuses: list[int] = []
    start = threading.Barrier(len(amounts) + 2)

    def pay(amount: int, external_id: str) -> None:
        start.wait()
        body = {"amount_minor": amount, "date": "2025-04-20", "external_id": external_id}
        response = api.call("POST", f"/v1/loans/{loan['id']}/repayments", as_="officer", json=body)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=pay, args=(a, f"m-{i}")) for i, a in enumerate(amounts)]
    threads += [threading.Thread(target=pay, args=(amounts[0], "m-0")) for _ in range(2)]  # duplicates
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200] + [201] * len(amounts)

    txns = api.transactions(loan["id"])
    assert sorted(t["sequence"] for t in txns) == list(range(1, len(amounts) + 1))
    assert count_rows(ctx, Allocation.__table__) == len(amounts)
    paid = sum(amounts)
    allocated = sum(
        sum(
            t["allocation"][k]
            for k in ("penalty_minor", "fee_minor", "interest_minor", "principal_minor", "overpayment_minor")
        )
        for t in txns
    )
    assert allocated == paid
    # Stored allocations are exactly what a fresh replay of the stored transactions gives.
    with ctx.db.unit_of_work(read_only=True) as session:
        stored_loan = repo.get_loan(session, loan["id"])
        assert stored_loan is not None
        account: LoanAccount = account_of(
            stored_loan, repo.installments_of(session, loan["id"]), repo.transactions_of(session, loan["id"])
        )
        sequences = {t.id: t.sequence for t in repo.transactions_of(session, loan["id"])}
        assert len(transactions_from_rows(repo.transactions_of(session, loan["id"]))) == len(amounts)
    replayed = {a.sequence: a for a in account.state().allocations}
    for txn in txns:
        want: Any = replayed[sequences[txn["id"]]].allocated
        assert (txn["allocation"]["interest_minor"], txn["allocation"]["principal_minor"]) == (
            want.interest_minor,
            want.principal_minor,
        )
    state = api.loan(loan["id"])
    schedule_total = sum(r["total_minor"] for r in api.schedule(loan["id"]))
    assert state["outstanding"]["total_minor"] == schedule_total - paid
