"""Overpayment is bounded (issue 9): a direct repayment above what the loan owes plus the
tolerance is a 422 naming ``amount_minor`` and the most it accepts; a sweep of sale proceeds
is applied up to what is owed (no tolerance: a sweep is never kept as an overpayment) and the
rest is recorded as refused (audited, an event, not applied, refunded through escrow) and
acknowledged, so escrow does not redeliver it.

The loan owes 3,075.00 in all (installments of 1,035.00, 1,025.00 and 1,015.00); the default
tolerance is 1.00 (100 minor units).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from services.loans.settings import LoansContext
from shared.webhooks import SIGNATURE_HEADER, sign_payload
from tests.loans.kit import LoansApi
from tests.support import assert_problem

SMALL = {
    "amortization": "equal_principal",
    "max_repayments": 6,
    "min_principal_minor": 100_000,
    "fees": [{"name": "service", "timing": "per_installment", "calculation": "flat", "amount_minor": 500}],
}
OWED = 103_500 + 102_500 + 101_500
SECRET = "whsec-loans-test"


def small_loan(api: LoansApi, **product: Any) -> dict[str, Any]:
    api.set_date("2025-01-01")
    made = api.product(**{**SMALL, **product})
    loan = api.active_loan(
        made["id"],
        disburse_on="2025-01-01",
        principal_minor=300_000,
        annual_interest_rate="12",
        number_of_repayments=3,
    )
    api.set_date("2025-02-01")
    return loan


def test_a_repayment_beyond_what_is_owed_plus_the_tolerance_is_refused(api: LoansApi) -> None:
    loan = small_loan(api)
    body = {"amount_minor": 10**15, "date": "2025-02-01", "external_id": "huge"}
    response = api.call("POST", f"/v1/loans/{loan['id']}/repayments", as_="officer", json=body)
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["field"] == "amount_minor"
    assert f"at most {OWED + 100} KES" in problem["errors"][0]["message"]
    assert api.transactions(loan["id"]) == []
    api.repay(loan["id"], OWED + 100, "2025-02-01", "all-and-a-bit")
    state = api.loan(loan["id"])
    assert (state["status"], state["credit_balance_minor"]) == ("overpaid", 100)
    again = api.call(
        "POST", f"/v1/loans/{loan['id']}/repayments", as_="officer", json={**body, "amount_minor": 1}
    )
    assert "at most 0 KES" in assert_problem(again, 422)["errors"][0]["message"]


def test_the_tolerance_is_configurable(api: LoansApi, ctx: LoansContext) -> None:
    loan = small_loan(api)
    ctx.settings.overpayment_tolerance_minor = 0
    api.repay(loan["id"], OWED + 1, "2025-02-01", "one-too-many", expect=422)
    api.repay(loan["id"], OWED, "2025-02-01", "exact")
    assert api.loan(loan["id"])["status"] == "closed"


def test_a_back_dated_reversal_makes_room_again(api: LoansApi) -> None:
    loan = small_loan(api)
    paid = api.repay(loan["id"], OWED, "2025-02-01", "all")
    api.repay(loan["id"], 101, "2025-02-01", "more", expect=422)
    api.post(f"/v1/loans/{loan['id']}/transactions/{paid['id']}/reverse", as_="manager", expect=201)
    api.repay(loan["id"], OWED, "2025-02-01", "all-again")


def sweep(api: LoansApi, ctx: LoansContext, loan_id: str, amount: int, event_id: str) -> Any:
    event = {
        "id": event_id,
        "topic": "assignment.swept",
        "data": {"assignment_id": "asg-1", "loan_ref": loan_id, "currency": "KES", "amount_minor": amount},
    }
    body = json.dumps(event).encode()
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign_payload(SECRET, body, int(ctx.clock.now().timestamp())),
    }
    return api.client.post("/v1/inbound/escrow", content=body, headers=headers)


def test_a_huge_sweep_is_applied_up_to_what_is_owed_and_the_rest_refused(
    api: LoansApi, ctx: LoansContext
) -> None:
    ctx.settings.escrow_webhook_secret = SECRET
    loan = small_loan(api, allow_sale_proceeds=True)
    answer = sweep(api, ctx, loan["id"], 10**15, "evt-huge")
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["result"] == "repayment_posted"
    assert (result["accepted_minor"], result["refused_minor"]) == (OWED, 10**15 - OWED)
    state = api.loan(loan["id"])
    assert (state["status"], state["credit_balance_minor"]) == ("closed", 0)
    (repayment,) = api.transactions(loan["id"])
    assert (repayment["amount_minor"], repayment["source"]) == (OWED, "sale_proceeds")
    refused = [
        e for e in api.get("/v1/audit/entries", limit=100)["entries"] if e["action"] == "loan.sweep_refused"
    ]
    assert [e["payload"]["refused_minor"] for e in refused] == [10**15 - OWED]
    with ctx.db.unit_of_work(read_only=True) as session:
        topics = list(session.scalars(select(ctx.tables.outbox.c.topic)).all())
    assert "loan.sweep_refused" in topics
    # Redelivered: acknowledged as a duplicate, nothing more is applied or refused.
    assert sweep(api, ctx, loan["id"], 10**15, "evt-huge").json()["result"] == "duplicate"
    # A further sweep finds nothing owed: refused whole, acknowledged, nothing applied.
    nothing = sweep(api, ctx, loan["id"], 5_000, "evt-late")
    assert nothing.status_code == 200 and nothing.json()["result"] == "refused_overpayment"
    assert len(api.transactions(loan["id"])) == 1
