"""POST /v1/applications answers with the very bytes the stored application reads back as.

The submit route renders its answer itself (``shared.api.model_response``), not through
FastAPI's ``response_model``; these tests hold the answer to the bytes
``GET /v1/applications/{id}`` renders from the stored row through ``response_model``, for each
way a submission ends: scored with no policy, approved, approved and disbursed, declined, left
for review, and left pending a score.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.loans.models import Installment, Loan
from shared.platform import ServiceContext
from tests.factories.loans import FARMER_FEATURES, ApplicationPayloadFactory
from tests.loans.kit import FakeScoring, LoansApi
from tests.support import count_rows

POLICY: dict[str, Any] = {
    "auto_approve_min_score": "600",
    "auto_approve_max_principal_minor": 2_000_000,
    "auto_decline_below_score": "520",
    "max_open_loans": 5,
}


def _submitted_and_stored(api: LoansApi, product_id: str, borrower_id: str, years: int) -> Any:
    """Submit; check the answer's bytes are the stored application's; return it parsed."""
    features = {**FARMER_FEATURES, "years_farming": years}
    payload = ApplicationPayloadFactory(product_id=product_id, borrower_id=borrower_id, features=features)
    posted = api.call("POST", "/v1/applications", as_="officer", expect=201, json=payload)
    assert posted.headers["content-type"] == "application/json"
    stored = api.call("GET", f"/v1/applications/{posted.json()['id']}", as_="auditor", expect=200)
    assert posted.content == stored.content
    return posted.json()


@pytest.mark.parametrize(
    ("policy", "years", "status"),
    [
        (None, 12, "scored"),
        (POLICY, 12, "approved"),
        ({**POLICY, "auto_disburse": True}, 12, "approved"),
        (POLICY, 1, "rejected"),
        (POLICY, 3, "scored"),
    ],
    ids=["no-policy", "approve", "approve-and-disburse", "decline", "review"],
)
def test_a_scored_submission_answers_with_the_stored_bytes(
    api: LoansApi, ctx: ServiceContext, policy: dict[str, Any] | None, years: int, status: str
) -> None:
    product, borrower = api.product(), api.borrower()
    if policy is not None:
        api.post(f"/v1/products/{product['id']}/decision-policy", policy, as_="manager", expect=201)
    answer = _submitted_and_stored(api, product["id"], borrower["id"], years)
    assert answer["status"] == status
    if status == "approved":
        loan = api.get(f"/v1/loans/{answer['loan_id']}")
        assert loan["application_id"] == answer["id"]
        disbursed = bool(policy and policy.get("auto_disburse"))
        assert loan["status"] == ("active" if disbursed else "approved")
        assert (count_rows(ctx, Installment.__table__) > 0) is disbursed
    assert count_rows(ctx, Loan.__table__) == (1 if status == "approved" else 0)


def test_a_submission_pending_its_score_answers_with_the_stored_bytes(
    api: LoansApi, scoring: FakeScoring
) -> None:
    product, borrower = api.product(), api.borrower()
    scoring.down = True
    answer = _submitted_and_stored(api, product["id"], borrower["id"], 12)
    assert answer["status"] == "pending_score" and answer["score"] is None
