"""Maker-checker compares persons: the console (``service:console``) acts for people named in
the acting headers, and the person who submitted an application (or proposed a correction of
the business date) cannot approve (confirm) it through any console key, while another person
may through the same key. Audit entries name the person."""

from __future__ import annotations

from typing import Any

import pytest

from services.loans.settings import LoansContext
from shared.auth import ACTING_OWNER_HEADER, ACTING_PERSON_HEADER, ACTING_ROLE_HEADER, Role
from tests.loans.kit import LoansApi
from tests.support import assert_problem, issue_key


def acting(person: str, role: str, owner: str | None = None) -> dict[str, str]:
    """The headers the console sends for a signed-in person."""
    headers = {ACTING_PERSON_HEADER: person, ACTING_ROLE_HEADER: role}
    if owner is not None:
        headers[ACTING_OWNER_HEADER] = owner
    return headers


@pytest.fixture
def console(api: LoansApi, ctx: LoansContext) -> LoansApi:
    """``api`` with two console keys (``console``, and ``console2`` as after a rotation)."""
    api.keys["console"] = issue_key(ctx, Role.SERVICE, owner="console")
    api.keys["console2"] = issue_key(ctx, Role.SERVICE, owner="console")
    return api


def as_person(
    api: LoansApi, method: str, path: str, person: str, role: str, *, key: str = "console", **kwargs: Any
) -> Any:
    return api.call(method, path, as_=key, headers=acting(person, role), **kwargs)


def key_id_of(actor: str) -> str:
    return actor.rsplit(":via:", 1)[1]


def test_the_submitter_cannot_approve_through_any_console_key_another_person_can(console: LoansApi) -> None:
    api = console
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
    submitted = as_person(api, "POST", "/v1/applications", "alice", "admin", json=body)
    assert submitted.status_code == 201, submitted.text
    application = submitted.json()
    assert application["submitted_by"].startswith("person:alice:admin:via:")
    approve = f"/v1/applications/{application['id']}/approve"

    for key in ("console", "console2"):
        refused = as_person(api, "POST", approve, "alice", "admin", key=key)
        problem = assert_problem(refused, 403)
        assert "the person who submitted this application cannot approve it" in problem["detail"]
    # The console's credential alone is no person and admits nothing.
    assert_problem(api.call("POST", approve, as_="console"), 403)
    # Bob, another person, approves through the very key alice submitted with.
    approved = as_person(api, "POST", approve, "bob", "credit_manager", key="console")
    assert approved.status_code == 201, approved.text
    loan = approved.json()
    assert loan["approved_by"] == f"person:bob:credit_manager:via:{key_id_of(application['submitted_by'])}"
    decided = api.get(f"/v1/applications/{application['id']}")
    assert decided["status"] == "approved" and decided["decision"]["by"].startswith("person:bob:")

    entries = api.get("/v1/audit/entries", subject=f"application:{application['id']}")["entries"]
    actors = {e["action"]: e["actor"] for e in entries}
    assert actors["loan.application_submitted"].startswith("person:alice:admin:via:")
    assert actors["loan.application_scored"].startswith("person:alice:admin:via:")
    (approved_entry,) = api.get("/v1/audit/entries", subject=f"loan:{loan['id']}")["entries"]
    assert approved_entry["action"] == "loan.approved"
    assert approved_entry["actor"].startswith("person:bob:credit_manager:via:")


def test_the_acting_role_is_what_the_route_checks(console: LoansApi) -> None:
    api = console
    product, borrower = api.product(), api.borrower()
    application = api.apply(product["id"], borrower["id"])
    approve = f"/v1/applications/{application['id']}/approve"
    # A loan officer may not approve, whoever's key carries the request.
    assert_problem(as_person(api, "POST", approve, "carol", "loan_officer"), 403)
    # Persons and plain keys are different identities: a person may approve a key's submission.
    assert as_person(api, "POST", approve, "carol", "credit_manager").status_code == 201


def test_headers_from_a_caller_other_than_the_console_are_refused(console: LoansApi) -> None:
    api = console
    product, borrower = api.product(), api.borrower()
    application = api.apply(product["id"], borrower["id"], as_="admin")
    approve = f"/v1/applications/{application['id']}/approve"
    for key in ("officer", "manager", "admin", "service"):
        refused = as_person(api, "POST", approve, "bob", "credit_manager", key=key)
        assert "only the console's credential" in assert_problem(refused, 403)["detail"]
    read = api.call("GET", "/v1/applications", as_="auditor", headers=acting("dave", "auditor"))
    assert_problem(read, 403)
    assert api.get(f"/v1/applications/{application['id']}")["status"] == "scored"
    # The admin key that submitted is still refused by key, and another key may approve.
    problem = api.post(approve, as_="admin", expect=403)
    assert "the key that submitted this application cannot approve it" in problem["detail"]
    api.post(approve, as_="manager", expect=201)


def test_a_marketplace_operator_is_no_loans_reader(console: LoansApi) -> None:
    api = console
    headers = acting("erin", "marketplace", owner="shop-1")
    assert_problem(api.call("GET", "/v1/applications", as_="console", headers=headers), 403)
    listed = as_person(api, "GET", "/v1/applications", "erin", "auditor")
    assert listed.status_code == 200 and listed.json() == []


def test_a_correction_is_confirmed_by_another_person_not_by_its_proposer(console: LoansApi) -> None:
    api = console
    api.set_date("2025-03-31")
    body = {"date": "2025-03-03", "reason": "typed 31 for 03"}
    proposed = as_person(api, "POST", "/v1/business-date/corrections", "alice", "admin", json=body)
    assert proposed.status_code == 201, proposed.text
    correction = proposed.json()
    assert correction["proposed_by"].startswith("person:alice:admin:via:")
    confirm = f"/v1/business-date/corrections/{correction['id']}/confirm"
    for key in ("console", "console2"):
        problem = assert_problem(as_person(api, "POST", confirm, "alice", "admin", key=key), 409)
        assert "the person who proposed it cannot confirm it" in problem["detail"]
    assert api.get("/v1/business-date")["date"] == "2025-03-31"
    confirmed = as_person(api, "POST", confirm, "bob", "admin", key="console")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["confirmed_by"].startswith("person:bob:admin:via:")
    assert api.get("/v1/business-date")["date"] == "2025-03-03"
    changed = [
        e
        for e in api.get("/v1/audit/entries", subject="business-date")["entries"]
        if e["payload"].get("correction_id") == correction["id"]
    ]
    assert [e["actor"].split(":via:")[0] for e in changed] == ["person:bob:admin"]


def test_the_same_key_may_confirm_for_another_person_but_the_proposing_key_may_not_alone(
    console: LoansApi,
) -> None:
    api = console
    api.set_date("2025-03-31")
    body = {"date": "2025-03-03", "reason": "typed 31 for 03"}
    correction = api.post("/v1/business-date/corrections", body, as_="admin", expect=201)
    confirm = f"/v1/business-date/corrections/{correction['id']}/confirm"
    problem = api.post(confirm, as_="admin", expect=409)
    assert "the key that proposed it cannot confirm it" in problem["detail"]
    confirmed = as_person(api, "POST", confirm, "bob", "admin")
    assert confirmed.status_code == 200, confirmed.text
