"""Every status, driven through the API: what a response offers is accepted; the rest is a 409.

For each status an object is made in it and read; then, for every action, a *fresh* object in
that status gets the action posted. An offered action answers 2xx; any other answers 409 with
``allowed_actions`` equal to what the read offered (both come from ``domain.lifecycle``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from services.loans.service.scoring_retry import retry_pending_scores
from shared.clock import ManualClock
from shared.platform import ServiceContext
from tests.loans.kit import FakeScoring, LoansApi

_ids = itertools.count()

# ----------------------------------------------------------------------------- applications

APPLICATION_OFFERS = {
    "pending_score": ["withdraw"],
    "scored": ["approve", "reject", "withdraw"],
    "score_failed": ["withdraw"],
    "approved": [],
    "rejected": [],
    "withdrawn": [],
}
APPLICATION_ACTIONS = ("approve", "reject", "withdraw")
APPLICATION_ACTORS = {"approve": "manager", "reject": "manager", "withdraw": "officer"}


@pytest.fixture
def application_in(
    api: LoansApi, ctx: ServiceContext, scoring: FakeScoring, clock: ManualClock
) -> Callable[[str], dict[str, Any]]:
    """Make an application in a status, through the API (and the retry job for score_failed)."""
    product = api.product()

    def make(status: str) -> dict[str, Any]:
        borrower = api.borrower()
        if status == "pending_score":
            scoring.down = True
            application = api.apply(product["id"], borrower["id"])
            scoring.down = False
        elif status == "score_failed":
            scoring.down = True  # submitted while scoring is down, with features it will refuse
            application = api.apply(product["id"], borrower["id"], features={"years_farming": 12})
            scoring.down = False
            clock.advance(timedelta(minutes=1))
            assert retry_pending_scores(ctx, scoring.client()).failed == 1
        else:
            application = api.apply(product["id"], borrower["id"])
            path = f"/v1/applications/{application['id']}"
            if status == "approved":
                api.post(f"{path}/approve", as_="manager", expect=201)
            elif status == "rejected":
                api.post(f"{path}/reject", as_="manager")
            elif status == "withdrawn":
                api.post(f"{path}/withdraw", as_="officer")
        read: dict[str, Any] = api.get(f"/v1/applications/{application['id']}")
        assert read["status"] == status
        return read

    return make


@pytest.mark.parametrize("status", list(APPLICATION_OFFERS))
def test_an_application_offers_exactly_what_it_accepts(
    api: LoansApi, application_in: Callable[[str], dict[str, Any]], status: str
) -> None:
    offered = application_in(status)["allowed_actions"]
    assert offered == APPLICATION_OFFERS[status]
    for action in APPLICATION_ACTIONS:
        fresh = application_in(status)
        path = f"/v1/applications/{fresh['id']}/{action}"
        response = api.call("POST", path, as_=APPLICATION_ACTORS[action], json={"note": "checked"})
        if action in offered:
            assert 200 <= response.status_code < 300, (action, response.text)
        else:
            assert response.status_code == 409, (action, response.text)
            problem = response.json()
            assert problem["current_state"] == status
            assert problem["allowed_actions"] == offered


def test_approving_over_a_decline_hint_is_a_rule_of_approve_not_another_action(api: LoansApi) -> None:
    product, borrower = api.product(), api.borrower()
    features = {"land_area_ha": "2.5", "years_farming": 1}
    application = api.apply(product["id"], borrower["id"], features=features)
    assert application["score"]["decision_hint"] == "decline"
    assert application["allowed_actions"] == ["approve", "reject", "withdraw"]
    path = f"/v1/applications/{application['id']}/approve"
    problem = api.post(path, as_="manager", expect=409)
    assert "needs a note" in problem["detail"]
    assert problem["allowed_actions"] == application["allowed_actions"]
    assert api.post(path, {"note": "known to the branch"}, as_="manager", expect=201)["status"] == "approved"


# ----------------------------------------------------------------------------- loans

LOAN_OFFERS = {
    "approved": ["disburse"],
    "active": ["repay", "reverse", "write_off"],
    "closed": ["repay", "reverse"],
    "overpaid": ["repay", "reverse"],
    "written_off": ["repay", "reverse"],
}
LOAN_ACTIONS = ("disburse", "repay", "reverse", "write_off")
SMALL = {
    "amortization": "equal_principal",
    "max_repayments": 6,
    "min_principal_minor": 100_000,
    "fees": [{"name": "service", "timing": "per_installment", "calculation": "flat", "amount_minor": 500}],
}
SCHEDULE_TOTAL = 307_500  # 3 × principal 100,000 + interest 3,000/2,000/1,000 + fee 500


@pytest.fixture
def loan_in(api: LoansApi) -> Callable[[str], dict[str, Any]]:
    """Make a loan in a status, through the API (the KES 3,000 three-month loan)."""
    api.set_date("2025-01-01")
    product = api.product(**SMALL)

    def make(status: str) -> dict[str, Any]:
        api.set_date("2025-01-01")
        borrower = api.borrower()
        application = api.apply(
            product["id"],
            borrower["id"],
            disbursement_date="2025-01-01",
            principal_minor=300_000,
            annual_interest_rate="12",
            number_of_repayments=3,
        )
        loan = api.post(f"/v1/applications/{application['id']}/approve", as_="manager", expect=201)
        if status != "approved":
            api.post(f"/v1/loans/{loan['id']}/disburse", {"date": "2025-01-01"}, as_="manager")
            api.set_date("2025-02-01")
        if status in ("closed", "overpaid"):
            amount = SCHEDULE_TOTAL + (50 if status == "overpaid" else 0)  # within the default tolerance
            api.repay(loan["id"], amount, "2025-02-01", f"settle-{next(_ids)}")
        elif status == "written_off":
            api.post(f"/v1/loans/{loan['id']}/write-off", as_="manager", expect=201)
        read = api.loan(loan["id"])
        assert read["status"] == status
        return read

    return make


def _reversible(api: LoansApi, loan: dict[str, Any]) -> str:
    """A transaction of ``loan`` that can be reversed (a small repayment when it has none)."""
    if loan["status"] == "approved":
        return "no-transaction-yet"
    candidates = [
        t for t in api.transactions(loan["id"]) if t["kind"] != "reversal" and not t["reversed_by_id"]
    ]
    if candidates:
        return str(candidates[-1]["id"])
    return str(api.repay(loan["id"], 1_000, "2025-02-01", f"small-{next(_ids)}")["id"])


def _post_loan_action(api: LoansApi, loan: dict[str, Any], action: str) -> Any:
    path = f"/v1/loans/{loan['id']}"
    if action == "disburse":
        return api.call("POST", f"{path}/disburse", as_="manager", json={"date": "2025-01-01"})
    if action == "repay":
        # 10: what a closed or overpaid loan still accepts within the overpayment tolerance (100)
        body = {"amount_minor": 10, "date": "2025-01-01", "external_id": f"r-{next(_ids)}"}
        return api.call("POST", f"{path}/repayments", as_="officer", json=body)
    if action == "reverse":
        txn = _reversible(api, loan)
        return api.call("POST", f"{path}/transactions/{txn}/reverse", as_="manager", json={"note": "test"})
    assert action == "write_off"
    return api.call("POST", f"{path}/write-off", as_="manager", json={"note": "test"})


@pytest.mark.parametrize("status", list(LOAN_OFFERS))
def test_a_loan_offers_exactly_what_it_accepts(
    api: LoansApi, loan_in: Callable[[str], dict[str, Any]], status: str
) -> None:
    offered = loan_in(status)["allowed_actions"]
    assert offered == LOAN_OFFERS[status]
    for action in LOAN_ACTIONS:
        response = _post_loan_action(api, loan_in(status), action)
        if action in offered:
            assert 200 <= response.status_code < 300, (action, response.text)
        else:
            assert response.status_code == 409, (action, response.text)
            problem = response.json()
            assert problem["current_state"] == status
            assert problem["allowed_actions"] == offered


def test_listed_loans_and_applications_carry_their_allowed_actions(
    api: LoansApi, loan_in: Callable[[str], dict[str, Any]]
) -> None:
    loan = loan_in("active")
    listed = {item["id"]: item for item in api.get("/v1/loans")}
    assert listed[loan["id"]]["allowed_actions"] == LOAN_OFFERS["active"]
    applications = {item["id"]: item for item in api.get("/v1/applications")}
    assert applications[loan["application_id"]]["allowed_actions"] == []


def test_a_reversed_transaction_offers_nothing_more(
    api: LoansApi, loan_in: Callable[[str], dict[str, Any]]
) -> None:
    loan = loan_in("active")
    txn = api.repay(loan["id"], 1_000, "2025-02-01", "once")
    reversal = api.post(f"/v1/loans/{loan['id']}/transactions/{txn['id']}/reverse", as_="manager", expect=201)
    again = api.post(f"/v1/loans/{loan['id']}/transactions/{txn['id']}/reverse", as_="manager", expect=409)
    assert (again["current_state"], again["allowed_actions"]) == ("reversed", [])
    of_reversal = f"/v1/loans/{loan['id']}/transactions/{reversal['id']}/reverse"
    assert api.post(of_reversal, as_="manager", expect=409)["allowed_actions"] == []
