"""The application page's "Decision policy" section: who decided (the product's policy, or a person
after the policy sent the application for review), the policy's outcome, and each rule with whether
it passed and its figures worded by the console from loans' ``value`` and ``limit`` (money as money,
never loans' English detail), in English and Chinese; no section when the product has no policy.
The world's scoring is real, so the thresholds are chosen to approve everything (0) or nothing
(10000, the highest a policy accepts)."""

from __future__ import annotations

import html
import uuid
from typing import Any

from services.console.domain.formatting import money
from services.console.domain.scorecard import RULE_LABELS
from shared.auth import Role
from tests.console.api.test_console_applications import FARMER
from tests.console.kit import World, post_form
from tests.factories.loans import BorrowerPayloadFactory, ProductPayloadFactory

APPROVE_ALL = {
    "auto_approve_min_score": "0",
    "auto_approve_max_principal_minor": 5_000_000,
    "auto_decline_below_score": "0",
    "max_open_loans": 3,
}
REVIEW_ALL = {**APPROVE_ALL, "auto_approve_min_score": "10000"}
DECLINE_ALL = {**REVIEW_ALL, "auto_decline_below_score": "10000"}


def _post(world: World, path: str, body: Any, *, role: Role = Role.ADMIN) -> Any:
    return world.api(
        "loans", "POST", path, role=role, json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )


def _product(world: World, policy: dict[str, Any] | None) -> str:
    product_id = str(_post(world, "/v1/products", ProductPayloadFactory(maker_checker=False))["id"])
    if policy is not None:
        _post(world, f"/v1/products/{product_id}/decision-policy", policy)
    return product_id


def _apply(world: World, product_id: str, name: str = "Wanjiru Kamau") -> dict[str, Any]:
    borrower = _post(world, "/v1/borrowers", BorrowerPayloadFactory(name=name), role=Role.LOAN_OFFICER)
    body = {
        "product_id": product_id,
        "borrower_id": borrower["id"],
        "principal_minor": 1_200_000,
        "annual_interest_rate": "18",
        "number_of_repayments": 6,
        "disbursement_date": "2026-01-15",
        "features": FARMER,
    }
    return dict(_post(world, "/v1/applications", body, role=Role.LOAN_OFFICER))


def _section(page: str) -> str:
    start = page.index('id="decision-policy"')
    return page[start : page.index("</section>", start)]


def _rule_rows(section: str) -> list[str]:
    return [row.split("</tr>")[0] for row in section.split("<tbody>")[1].split("<tr>")[1:]]


def test_an_application_the_policy_approved_names_the_policy_and_every_rule(world: World) -> None:
    product_id = _product(world, APPROVE_ALL)
    application = _apply(world, product_id)
    assert application["status"] == "approved", application
    client = world.signed_in("carol", Role.CREDIT_MANAGER)
    page = client.get(f"/applications/{application['id']}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "decided by the product's decision policy on" in text
    assert f"policy:{product_id}" not in text  # the actor is said in plain words
    section = html.unescape(_section(page.text))
    assert "Decided by the product's decision policy, version 1." in section
    assert "<strong>Approved</strong>" in section
    rules = application["policy_decision"]["rules"]
    rows = _rule_rows(section)
    assert len(rows) == len(rules) == 4
    score = application["score"]["score"]
    currency = application["currency"]
    expected = {
        "auto_decline_below_score": f"Score {score}, threshold 0",
        "auto_approve_min_score": f"Score {score}, threshold 0",
        # loans' minor units shown as money
        "auto_approve_max_principal_minor": f"{money(1_200_000, currency, 'en')}, "
        f"ceiling {money(5_000_000, currency, 'en')}",
        "max_open_loans": "1 open loans with this one, limit 3",
    }
    for row, rule in zip(rows, rules, strict=True):
        assert RULE_LABELS[rule["rule"]] in row
        assert rule["passed"] is True and "Passed" in row and "Not passed" not in row
        assert expected[rule["rule"]] in row, row
        assert rule["detail"] not in row and "1200000" not in row


def test_an_application_sent_for_review_says_so_then_names_the_person(world: World) -> None:
    application = _apply(world, _product(world, REVIEW_ALL))
    assert application["status"] == "scored" and application["policy_decision"]["outcome"] == "review"
    client = world.signed_in("carol", Role.CREDIT_MANAGER)
    path = f"/applications/{application['id']}"
    section = html.unescape(_section(client.get(path).text))
    assert "version 1, did not decide: it sent the application to a person." in section
    assert "It is waiting for a person's decision." in section
    assert "<strong>Sent to a person for review</strong>" in section
    failed = [r for r in _rule_rows(section) if "Not passed" in r]
    assert len(failed) == 1 and RULE_LABELS["auto_approve_min_score"] in failed[0]
    assert f"Score {application['score']['score']}, threshold 10000" in failed[0]
    assert 'action="/applications/' in client.get(path).text  # a person can still decide

    answer = post_form(
        client, f"{path}/approve", {"note": "", "idempotency_key": uuid.uuid4().hex}, from_page=path
    )
    assert answer.status_code == 303, answer.text
    after = html.unescape(_section(client.get(path).text))
    assert "Decided by carol." in after and "waiting" not in after


def test_an_application_the_policy_declined_says_declined_and_which_rule_failed(world: World) -> None:
    application = _apply(world, _product(world, DECLINE_ALL))
    assert application["status"] == "rejected", application
    page = world.signed_in("ursula", Role.AUDITOR).get(f"/applications/{application['id']}")
    assert page.status_code == 200
    section = html.unescape(_section(page.text))
    assert "Decided by the product's decision policy, version 1." in section
    assert "<strong>Declined</strong>" in section
    failed = [r for r in _rule_rows(section) if "Not passed" in r]
    assert [RULE_LABELS["auto_decline_below_score"] in r for r in failed] == [True, False]
    assert f"Score {application['score']['score']}, threshold 10000" in failed[0]


def test_the_section_in_chinese(world: World) -> None:
    application = _apply(world, _product(world, REVIEW_ALL))
    client = world.signed_in("carol", Role.CREDIT_MANAGER)
    path = f"/applications/{application['id']}"
    switched = post_form(client, "/language", {"language": "zh", "next": path}, from_page=path)
    assert switched.status_code == 303
    page = client.get(path).text
    section = _section(page)
    assert "决策策略" in section and "Decision policy" not in section
    assert "转交人工审核" in section and "Sent to a person for review" not in section
    assert "审批分数线" in section and RULE_LABELS["auto_approve_min_score"] not in section
    assert "未通过" in section and "Not passed" not in section
    assert f"分数 {application['score']['score']}，分数线 10000" in section
    assert "含本笔共 1 笔未结清贷款，上限 3" in section
    assert "threshold" not in section and "open loans" not in section


def test_an_application_without_a_policy_has_no_section(world: World) -> None:
    application = _apply(world, _product(world, None))
    assert application["status"] == "scored" and application["policy_decision"] is None
    page = world.signed_in("carol", Role.CREDIT_MANAGER).get(f"/applications/{application['id']}")
    assert page.status_code == 200
    assert 'id="decision-policy"' not in page.text and "Decision policy" not in page.text
