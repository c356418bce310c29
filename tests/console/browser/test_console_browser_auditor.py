"""In the browser: an auditor verifies a decision's receipt, replays the decision, and sees no
decision controls anywhere (no Approve, Reject, Disburse or repayment), where a credit manager
sees them on the same pages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.console.browser.browsing import SignIn, World, reason_texts, screenshot

pytestmark = pytest.mark.xdist_group("browser")

DECISION_FORMS = ", ".join(
    f"form[action$='/{action}']" for action in ("approve", "reject", "disburse", "repayments")
)


def decision_controls(page: Page) -> dict[str, int]:
    """How many Approve, Reject, Disburse and repayment buttons (and forms for them) the page has."""
    return {
        "Approve": page.get_by_role("button", name="Approve", exact=True).count(),
        "Reject": page.get_by_role("button", name=re.compile(r"^Reject")).count(),
        "Disburse": page.get_by_role("button", name="Disburse", exact=True).count(),
        "repayment": page.get_by_role("button", name=re.compile("repayment", re.IGNORECASE)).count(),
        "forms": page.locator(DECISION_FORMS).count(),
    }


NONE = {"Approve": 0, "Reject": 0, "Disburse": 0, "repayment": 0, "forms": 0}


def test_an_auditor_verifies_a_receipt_replays_the_decision_and_has_no_decision_controls(
    world: World, sign_in: SignIn
) -> None:
    application = world.application(world.farmer("Faith Wambui"), world.lending.example)
    loan = world.loan("Grace Akinyi", disbursed=False)  # a credit manager may disburse it
    repaying = world.loan("Halima Yusuf", disbursed=True)  # a loan officer may post a repayment
    score = application["score"]
    texts = reason_texts()
    page = sign_in("auditor")
    page.goto(world.system.url(f"/decisions/{score['id']}"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Decision for")
    expect(page.get_by_role("heading", name="Signed receipt")).to_be_visible()
    reasons = page.locator("ol.reasons li")
    expect(reasons).to_have_count(len(score["reasons"]))
    for index, reason in enumerate(score["reasons"]):
        expect(reasons.nth(index)).to_contain_text(texts[reason["code"]][0])

    page.get_by_role("button", name="Verify receipt").click()
    verdict = page.locator("#verification")
    expect(verdict).to_contain_text("Valid: the receipt's signature verifies with the published key")
    expect(verdict).not_to_contain_text("Not valid")

    page.get_by_role("button", name="Replay").click()
    replayed = page.locator("#replay-result")
    expect(replayed).to_contain_text("Identical: replaying with")
    expect(replayed).not_to_contain_text("Not identical")
    screenshot(page, "decision")
    assert decision_controls(page) == NONE

    # the receipt and the published keys download for offline verification
    receipt = page.request.get(world.system.url(f"/decisions/{score['id']}/receipt.json"))
    assert receipt.status == 200 and receipt.headers["content-type"].startswith("application/json")
    assert "signature" in receipt.text()
    keys = page.request.get(world.system.url("/decisions/keys.json"))
    assert keys.status == 200 and keys.headers["content-type"].startswith("application/json")

    # the application and the loan pages show the auditor no decision controls either ...
    page.goto(world.system.url(f"/applications/{application['id']}"))
    expect(page.get_by_role("heading", name="Score card")).to_be_visible()
    assert decision_controls(page) == NONE
    for shown in (loan, repaying):
        page.goto(world.system.url(f"/loans/{shown['id']}"))
        expect(page.get_by_role("heading", name="Schedule")).to_be_visible()
        assert decision_controls(page) == NONE

    # ... where a credit manager has them on the same pages
    manager = sign_in("manager")
    manager.goto(world.system.url(f"/applications/{application['id']}"))
    expect(manager.get_by_role("heading", name="Score card")).to_be_visible()
    assert decision_controls(manager) | {"Disburse": 0, "repayment": 0} == NONE | {
        "Approve": 1,
        "Reject": 1,
        "forms": 2,
    }
    manager.goto(world.system.url(f"/loans/{loan['id']}"))
    expect(manager.get_by_role("heading", name="Schedule")).to_be_visible()
    assert decision_controls(manager)["Disburse"] == 1
    officer = sign_in("officer")
    officer.goto(world.system.url(f"/loans/{repaying['id']}"))
    expect(officer.get_by_role("heading", name="Schedule")).to_be_visible()
    assert decision_controls(officer)["repayment"] == 1
