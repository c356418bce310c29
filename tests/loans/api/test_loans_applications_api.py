"""Applications: product limits, scoring (and its outage), maker-checker, reject, withdraw."""

from __future__ import annotations

from datetime import timedelta

from services.loans.models import Application, Loan
from services.loans.service.scoring import score_idempotency_key
from services.loans.service.scoring_retry import retry_pending_scores
from shared.clock import ManualClock
from shared.platform import ServiceContext
from tests.factories.loans import ApplicationPayloadFactory
from tests.loans.kit import FakeScoring, LoansApi
from tests.support import count_rows


def test_limits_are_checked_against_the_product_and_nothing_is_stored(
    api: LoansApi, ctx: ServiceContext, scoring: FakeScoring
) -> None:
    product, borrower = api.product(max_repayments=12), api.borrower()
    problem = api.apply(
        product["id"], borrower["id"], principal_minor=99_000_000, number_of_repayments=36, expect=422
    )
    assert {e["field"] for e in problem["errors"]} == {"principal_minor", "number_of_repayments"}
    assert "50000000" in problem["detail"]
    problem = api.apply("nope", borrower["id"], expect=422)
    assert problem["errors"][0]["field"] == "product_id"
    assert count_rows(ctx, Application.__table__) == 0 and scoring.calls == []


def test_a_scored_application_carries_the_score(api: LoansApi, scoring: FakeScoring) -> None:
    product, borrower = api.product(), api.borrower()
    application = api.apply(product["id"], borrower["id"])
    assert application["status"] == "scored"
    score = application["score"]
    assert (score["score"], score["grade"], score["pd"], score["decision_hint"]) == (
        "642.17",
        "B",
        "0.0381",
        "approve",
    )
    assert [r["code"] for r in score["reasons"]] == ["F05", "F01"]
    ((key, sent),) = scoring.calls
    assert key == score_idempotency_key(application["id"])
    assert sent["segment"] == "farmer" and sent["subject_id"] == borrower["id"]
    assert api.get(f"/v1/applications/{application['id']}") == application
    enterprise = api.borrower(type="enterprise")
    api.apply(product["id"], enterprise["id"])
    assert scoring.calls[-1][1]["segment"] == "enterprise"


def test_scoring_refusing_the_features_is_a_422_naming_them(
    api: LoansApi, ctx: ServiceContext, scoring: FakeScoring
) -> None:
    product, borrower = api.product(), api.borrower()
    problem = api.apply(product["id"], borrower["id"], features={"land_area_ha": "-1"}, expect=422)
    assert problem["errors"] == [{"field": "features.land_area_ha", "message": "must be at least 0.0"}]
    assert count_rows(ctx, Application.__table__) == 0
    assert count_rows(ctx, ctx.tables.audit_log) == 2  # product and borrower only


def test_maker_checker_refuses_the_submitter_and_accepts_a_second_person(api: LoansApi) -> None:
    product, borrower = api.product(), api.borrower()
    mine = api.apply(product["id"], borrower["id"], as_="admin")
    problem = api.post(f"/v1/applications/{mine['id']}/approve", as_="admin", expect=403)
    assert "maker-checker" in problem["detail"]
    api.post(f"/v1/applications/{mine['id']}/approve", as_="officer", expect=403)  # wrong role
    loan = api.post(f"/v1/applications/{mine['id']}/approve", as_="manager", expect=201)
    assert loan["status"] == "approved" and loan["principal_minor"] == 1_200_000
    assert api.get(f"/v1/applications/{mine['id']}")["loan_id"] == loan["id"]
    api.post(f"/v1/applications/{mine['id']}/approve", as_="manager2", expect=409)


def test_without_maker_checker_the_submitter_may_approve(api: LoansApi) -> None:
    product, borrower = api.product(maker_checker=False), api.borrower()
    mine = api.apply(product["id"], borrower["id"], as_="admin")
    assert api.post(f"/v1/applications/{mine['id']}/approve", as_="admin", expect=201)["status"] == "approved"


def test_reject_returns_the_score_reason_codes(api: LoansApi) -> None:
    product, borrower = api.product(), api.borrower()
    application = api.apply(
        product["id"], borrower["id"], features={"land_area_ha": "0.4", "years_farming": 1}
    )
    assert application["score"]["decision_hint"] == "decline"
    problem = api.post(f"/v1/applications/{application['id']}/approve", as_="manager", expect=409)
    assert "decline" in problem["detail"]
    rejected = api.post(f"/v1/applications/{application['id']}/reject", {"note": "thin file"}, as_="manager")
    assert rejected["status"] == "rejected"
    assert rejected["adverse_action_reasons"] == [
        {"code": "F04", "text": "No access to irrigation"},
        {"code": "F05", "text": "Limited farming experience"},
    ]
    assert rejected["decision"]["note"] == "thin file"
    api.post(f"/v1/applications/{application['id']}/withdraw", as_="officer", expect=409)


def test_outage_leaves_pending_score_until_the_retry_job_scores_it(
    api: LoansApi, ctx: ServiceContext, scoring: FakeScoring, clock: ManualClock
) -> None:
    product, borrower = api.product(), api.borrower()
    scoring.down = True
    application = api.apply(product["id"], borrower["id"])
    assert application["status"] == "pending_score" and application["score"] is None
    assert "connection refused" in application["last_score_error"]
    problem = api.post(f"/v1/applications/{application['id']}/approve", as_="manager", expect=409)
    assert problem["current_state"] == "pending_score"
    assert count_rows(ctx, Loan.__table__) == 0

    client = scoring.client()
    report = retry_pending_scores(ctx, client)
    assert report.attempted == 0  # its next attempt is not due yet
    clock.advance(timedelta(minutes=1))
    report = retry_pending_scores(ctx, client)
    assert (report.attempted, report.still_pending) == (1, 1)  # still down
    scoring.down = False
    clock.advance(timedelta(minutes=5))
    report = retry_pending_scores(ctx, client)
    assert (report.attempted, report.scored) == (1, 1)
    scored = api.get(f"/v1/applications/{application['id']}")
    assert scored["status"] == "scored" and scored["score"]["grade"] == "B"
    assert {key for key, _ in scoring.calls} == {score_idempotency_key(application["id"])}
    assert api.post(f"/v1/applications/{application['id']}/approve", as_="manager", expect=201)
    assert retry_pending_scores(ctx, client).attempted == 0


def test_withdraw_and_roles(api: LoansApi) -> None:
    product, borrower = api.product(), api.borrower()
    application = api.apply(product["id"], borrower["id"])
    api.apply(product["id"], borrower["id"], as_="manager", expect=403)
    api.post(f"/v1/applications/{application['id']}/withdraw", as_="manager", expect=403)
    api.get(f"/v1/applications/{application['id']}", as_="marketplace", expect=403)
    withdrawn = api.post(f"/v1/applications/{application['id']}/withdraw", as_="officer")
    assert withdrawn["status"] == "withdrawn"
    api.post(f"/v1/applications/{application['id']}/approve", as_="manager", expect=409)
    assert [a["id"] for a in api.get("/v1/applications", status="withdrawn")] == [application["id"]]
    api.get("/v1/applications/missing", expect=404)


def test_the_request_id_follows_the_application_to_scoring(api: LoansApi, scoring: FakeScoring) -> None:
    product, borrower = api.product(), api.borrower()
    body = {
        "product_id": product["id"],
        "borrower_id": borrower["id"],
        "principal_minor": 1_200_000,
        "annual_interest_rate": "18",
        "number_of_repayments": 6,
        "disbursement_date": "2026-01-15",
        "features": {"land_area_ha": "2.5", "years_farming": 12},
    }
    response = api.call(
        "POST",
        "/v1/applications",
        as_="officer",
        expect=201,
        json=body,
        headers={"X-Request-ID": "req-from-the-officer"},
    )
    assert response.headers["x-request-id"] == "req-from-the-officer"
    assert scoring.request_ids[-1] == "req-from-the-officer"


def test_a_retried_submit_is_answered_without_calling_scoring_again(
    api: LoansApi, ctx: ServiceContext, scoring: FakeScoring
) -> None:
    product, borrower = api.product(), api.borrower()
    body = ApplicationPayloadFactory(product_id=product["id"], borrower_id=borrower["id"])
    headers = {"Idempotency-Key": "submit-1"}
    first = api.call("POST", "/v1/applications", as_="officer", expect=201, headers=headers, json=body)
    again = api.call("POST", "/v1/applications", as_="officer", expect=201, headers=headers, json=body)
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    assert len(scoring.calls) == 1  # the retry looked first: no second score, no orphan decision
    other = {**body, "principal_minor": body["principal_minor"] + 100}
    changed = api.call("POST", "/v1/applications", as_="officer", expect=422, headers=headers, json=other)
    assert "different request" in changed.json()["detail"]
    assert len(scoring.calls) == 1 and count_rows(ctx, Application.__table__) == 1
