"""Decision policies: versions, and what they decide for scored applications on submit and on the
scoring retry (FakeScoring: years_farming ≥ 5 scores 642.17, 2–4 scores 571.0, below 2 scores 498.3)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from services.loans.service.scoring_retry import retry_pending_scores
from shared.clients.loans import LoansClient
from shared.clock import ManualClock
from shared.platform import ServiceContext
from tests.factories.loans import FARMER_FEATURES
from tests.loans.kit import FakeScoring, LoansApi

POLICY: dict[str, Any] = {
    "auto_approve_min_score": "600",
    "auto_approve_max_principal_minor": 2_000_000,
    "auto_decline_below_score": "520",
    "max_days_past_due": 30,
    "max_open_loans": 2,
}


def set_policy(api: LoansApi, product_id: str, **overrides: Any) -> dict[str, Any]:
    body = {**POLICY, **overrides}
    return dict(api.post(f"/v1/products/{product_id}/decision-policy", body, as_="manager", expect=201))


def features(years: int) -> dict[str, Any]:
    return {**FARMER_FEATURES, "years_farming": years}


def audit_entries(api: LoansApi) -> list[dict[str, Any]]:
    return list(api.get("/v1/audit/entries", limit=100)["entries"])


def test_each_change_is_a_new_version_and_the_history_keeps_them_all(api: LoansApi) -> None:
    product = api.product()
    api.get(f"/v1/products/{product['id']}/decision-policy", expect=404)
    assert api.get(f"/v1/products/{product['id']}/decision-policy/versions") == []
    first = set_policy(api, product["id"])
    second = set_policy(api, product["id"], auto_disburse=True)
    assert (first["version"], second["version"]) == (1, 2)
    current = api.get(f"/v1/products/{product['id']}/decision-policy", as_="officer")
    assert current["version"] == 2 and current["rules"]["auto_disburse"] is True
    assert current["rules"]["auto_approve_min_score"] == "600"
    history = api.get(f"/v1/products/{product['id']}/decision-policy/versions")
    assert [h["version"] for h in history] == [2, 1]
    assert history[1]["rules"]["auto_disburse"] is False
    assert [e["action"] for e in audit_entries(api)].count("loan.decision_policy_set") == 2


def test_rules_are_validated_in_plain_words_and_only_managers_set_them(api: LoansApi) -> None:
    product = api.product()
    path = f"/v1/products/{product['id']}/decision-policy"
    problem = api.post(path, {**POLICY, "auto_decline_below_score": "601"}, as_="manager", expect=422)
    assert problem["errors"][0]["field"] == "auto_decline_below_score"
    assert "must not be above auto_approve_min_score" in problem["errors"][0]["message"]
    problem = api.post(path, {**POLICY, "max_open_loans": 0, "surprise": 1}, as_="manager", expect=422)
    assert {e["field"] for e in problem["errors"]} == {"max_open_loans", "surprise"}
    api.post(path, POLICY, as_="officer", expect=403)
    api.post(path, POLICY, as_="auditor", expect=403)
    api.post("/v1/products/nope/decision-policy", POLICY, as_="manager", expect=404)
    assert api.get(f"{path}/versions") == []


def test_a_high_score_within_the_ceiling_becomes_a_loan_without_a_person(api: LoansApi) -> None:
    product, borrower = api.product(), api.borrower()
    policy = set_policy(api, product["id"])
    application = api.apply(product["id"], borrower["id"], features=features(12))
    assert application["status"] == "approved" and application["loan_id"] is not None
    actor = f"policy:{product['id']}:v{policy['version']}"
    assert application["decision"]["by"] == actor
    decision = application["policy_decision"]
    assert (decision["version"], decision["outcome"]) == (1, "approve")
    assert {r["rule"] for r in decision["rules"]} == {
        "auto_decline_below_score",
        "auto_approve_min_score",
        "auto_approve_max_principal_minor",
        "max_days_past_due",
        "max_open_loans",
    }
    assert all(r["passed"] for r in decision["rules"])
    loan = api.loan(application["loan_id"])
    assert loan["status"] == "approved"  # no auto_disburse: a person disburses
    approved = [e for e in audit_entries(api) if e["action"] == "loan.approved"]
    assert [e["actor"] for e in approved] == [actor]
    assert api.get("/v1/audit/verify")["ok"] is True


def test_auto_disburse_disburses_on_the_disbursement_date_when_it_has_come(api: LoansApi) -> None:
    product = api.product()
    set_policy(api, product["id"], auto_disburse=True)
    api.set_date("2026-01-10")
    early = api.apply(product["id"], api.borrower()["id"], features=features(12))
    assert early["status"] == "approved"
    assert api.loan(early["loan_id"])["status"] == "approved"  # 2026-01-15 is after the business date
    api.set_date("2026-01-15")
    due = api.apply(product["id"], api.borrower()["id"], features=features(12))
    loan = api.loan(due["loan_id"])
    assert loan["status"] == "active" and loan["disbursed_on"] == "2026-01-15"
    disbursed = [e for e in audit_entries(api) if e["action"] == "loan.disbursed"]
    assert [e["actor"] for e in disbursed] == [f"policy:{product['id']}:v1"]


def test_a_low_score_is_declined_with_the_scores_reasons(api: LoansApi) -> None:
    product, borrower = api.product(), api.borrower()
    set_policy(api, product["id"])
    application = api.apply(product["id"], borrower["id"], features=features(1))
    assert application["status"] == "rejected" and application["loan_id"] is None
    assert application["decision"]["by"] == f"policy:{product['id']}:v1"
    assert application["policy_decision"]["outcome"] == "decline"
    reasons = [r["code"] for r in application["score"]["reasons"]]
    assert reasons and [r["code"] for r in application["adverse_action_reasons"]] == reasons
    assert [e["action"] for e in audit_entries(api)].count("loan.rejected") == 1


def test_between_the_thresholds_or_over_the_ceiling_waits_for_a_person(api: LoansApi) -> None:
    product, borrower = api.product(maker_checker=False), api.borrower()
    set_policy(api, product["id"])
    middle = api.apply(product["id"], borrower["id"], features=features(3))
    assert middle["status"] == "scored" and middle["decision"] is None
    assert middle["policy_decision"]["outcome"] == "review"
    big = api.apply(product["id"], borrower["id"], features=features(12), principal_minor=2_000_001)
    assert big["status"] == "scored" and big["policy_decision"]["outcome"] == "review"
    failed = [r["rule"] for r in big["policy_decision"]["rules"] if not r["passed"]]
    assert failed == ["auto_approve_max_principal_minor"]
    assert "loan.application_policy_review" in [e["action"] for e in audit_entries(api)]
    loan = api.post(f"/v1/applications/{big['id']}/approve", as_="manager", expect=201)
    assert loan["status"] == "approved"


def test_a_borrower_at_the_open_loan_limit_waits_for_a_person(api: LoansApi) -> None:
    product, borrower = api.product(), api.borrower()
    set_policy(api, product["id"], max_open_loans=2)
    for _ in range(2):
        assert api.apply(product["id"], borrower["id"])["status"] == "approved"
    third = api.apply(product["id"], borrower["id"])
    assert third["status"] == "scored"
    assert [r["rule"] for r in third["policy_decision"]["rules"] if not r["passed"]] == ["max_open_loans"]


def test_a_borrower_in_arrears_over_the_limit_waits_for_a_person(api: LoansApi) -> None:
    product = api.product(maker_checker=False)
    api.set_date("2026-01-15")
    loan = api.active_loan(product["id"], first_repayment_date="2026-02-15")
    set_policy(api, product["id"], max_days_past_due=10, max_open_loans=None)
    api.set_date("2026-02-20")
    api.cob("2026-02-20")
    late = api.loan(loan["id"])
    assert late["days_past_due"] > 0
    application = api.apply(product["id"], late["borrower_id"], disbursement_date="2026-02-20")
    assert application["status"] == "approved"  # within 10 days
    api.set_date("2026-03-01")
    api.cob("2026-03-01")
    assert api.loan(loan["id"])["days_past_due"] > 10
    application = api.apply(product["id"], late["borrower_id"], disbursement_date="2026-03-01")
    assert application["status"] == "scored"
    failed = [r for r in application["policy_decision"]["rules"] if not r["passed"]]
    assert [r["rule"] for r in failed] == ["max_days_past_due"]


def test_without_a_policy_every_scored_application_waits(api: LoansApi, ctx: ServiceContext) -> None:
    product, borrower = api.product(), api.borrower()
    for years in (12, 3, 1):
        application = api.apply(product["id"], borrower["id"], features=features(years))
        assert application["status"] == "scored" and application["policy_decision"] is None
        assert application["decision"] is None and application["loan_id"] is None


def test_the_policy_version_current_at_scoring_is_the_one_recorded(api: LoansApi) -> None:
    product, borrower = api.product(), api.borrower()
    set_policy(api, product["id"], auto_approve_min_score="700")
    first = api.apply(product["id"], borrower["id"])
    assert (first["status"], first["policy_decision"]["version"]) == ("scored", 1)
    set_policy(api, product["id"])
    second = api.apply(product["id"], borrower["id"])
    assert (second["status"], second["policy_decision"]["version"]) == ("approved", 2)
    assert api.get(f"/v1/applications/{first['id']}")["policy_decision"]["version"] == 1


def test_the_scoring_retry_applies_the_policy(
    api: LoansApi, ctx: ServiceContext, scoring: FakeScoring, clock: ManualClock
) -> None:
    product, borrower = api.product(), api.borrower()
    set_policy(api, product["id"])
    scoring.down = True
    approve = api.apply(product["id"], borrower["id"], features=features(12))
    decline = api.apply(product["id"], borrower["id"], features=features(1))
    assert approve["status"] == decline["status"] == "pending_score"
    assert approve["policy_decision"] is None
    scoring.down = False
    clock.advance(timedelta(minutes=5))
    report = retry_pending_scores(ctx, scoring.client())
    assert (report.attempted, report.scored) == (2, 2)
    approved = api.get(f"/v1/applications/{approve['id']}")
    assert approved["status"] == "approved" and approved["loan_id"] is not None
    assert approved["decision"]["by"] == f"policy:{product['id']}:v1"
    rejected = api.get(f"/v1/applications/{decline['id']}")
    assert rejected["status"] == "rejected" and rejected["adverse_action_reasons"]


def test_a_repeated_idempotency_key_stores_one_version(api: LoansApi) -> None:
    product = api.product()
    path = f"/v1/products/{product['id']}/decision-policy"
    headers = {"Idempotency-Key": "policy-1"}
    first = api.call("POST", path, as_="manager", expect=201, headers=headers, json=POLICY).json()
    again = api.call("POST", path, as_="manager", expect=201, headers=headers, json=POLICY).json()
    assert again == first and first["version"] == 1
    assert [h["version"] for h in api.get(f"{path}/versions")] == [1]


def test_the_typed_client_reads_the_policy_decision(api: LoansApi) -> None:
    product, borrower = api.product(), api.borrower()
    set_policy(api, product["id"])
    application = api.apply(product["id"], borrower["id"], features=features(12))

    def forward(request: httpx.Request) -> httpx.Response:
        answer = api.client.request(
            request.method, request.url.raw_path.decode("ascii"), headers=request.headers
        )
        return httpx.Response(answer.status_code, content=answer.content, headers=answer.headers)

    http = httpx.Client(base_url="http://loans.test", transport=httpx.MockTransport(forward))
    with http:
        seen = LoansClient(http, api_key=api.keys["auditor"]).application(application["id"])
    assert seen.policy_decision is not None
    assert (seen.policy_decision.version, seen.policy_decision.outcome) == (1, "approve")
    assert {r.rule for r in seen.policy_decision.rules if r.passed} == {
        r["rule"] for r in application["policy_decision"]["rules"]
    }
