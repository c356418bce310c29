"""In the browser: a loan officer submits an application and sees its score card; a credit
manager approves another person's application but not their own; a rejection produces the
adverse-action notice with the reasons; the language switch shows the Chinese reason texts."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.console.browser.browsing import SignIn, World, reason_texts, screenshot

pytestmark = pytest.mark.xdist_group("browser")

APPLICATION_URL = re.compile(r"/applications/[0-9a-f-]{36}$")
REMOVE_CSRF = "() => document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())"


def fill_application(page: Page, features: dict[str, Any]) -> None:
    """Fill the application form's terms (KES 12,000 at 18 %, 6 repayments) and features."""
    page.get_by_label("Principal (in the product's currency)").fill("12000")
    page.get_by_label("Annual interest rate (%)").fill("18")
    page.get_by_label("Number of repayments").fill("6")
    for name, value in features.items():
        field = page.locator(f"[name='features.{name}']")
        if isinstance(value, bool):
            field.select_option("true" if value else "false")
        elif isinstance(value, str):
            field.select_option(value)
        else:
            field.fill(str(value))


def score_card(page: Page) -> Locator:
    """The score card section of an application page."""
    return page.locator("section[aria-labelledby='h-scorecard']")


def assert_reasons(items: Locator, codes: list[str], language: int) -> None:
    """The listed reasons are the score's, in order, in the spec's words (0: en, 1: zh)."""
    texts = reason_texts()
    expect(items).to_have_count(len(codes))
    for index, code in enumerate(codes):
        expect(items.nth(index)).to_contain_text(texts[code][language])
        expect(items.nth(index)).to_contain_text(code)


def test_a_loan_officer_submits_an_application_and_sees_its_score_card(world: World, sign_in: SignIn) -> None:
    borrower = world.farmer("Achieng Otieno")
    page = sign_in("officer")
    page.get_by_role("link", name="New application").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New application")
    page.get_by_label("Borrower").select_option(borrower)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("button", name="Submit the application")).to_be_visible()
    fill_application(page, world.lending.example)
    page.get_by_role("button", name="Submit the application").click()
    page.wait_for_url(APPLICATION_URL)

    stored = world.get_application(page.url.rsplit("/", 1)[1])
    assert stored["borrower_id"] == borrower and stored["principal_minor"] == 1_200_000
    assert stored["submitted_by"].startswith("person:officer:"), stored["submitted_by"]
    score = stored["score"]
    card = score_card(page)
    expect(card.get_by_role("heading", name="Score card")).to_be_visible()
    # the printable integer score (loans' score rounded half to even)
    whole = Decimal(score["score"]).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    expect(card.locator("dt:has-text('Score') + dd")).to_have_text(str(whole))
    expect(card.locator("dt:has-text('Grade') + dd")).to_have_text(score["grade"])
    expect(card.locator("dt:has-text('Probability of default') + dd")).to_have_text(
        f"{Decimal(score['pd']) * 100:.2f}%"
    )
    assert score["reasons"], "the example scores with reasons"
    assert_reasons(card.locator("ol.reasons li"), [r["code"] for r in score["reasons"]], 0)
    expect(page.get_by_text("KES12,000.00").first).to_be_visible()  # money in major units
    screenshot(page, "application")


def test_a_credit_manager_approves_another_persons_application(world: World, sign_in: SignIn) -> None:
    application = world.application(world.farmer("Baraka Mwangi"), world.lending.strong)
    page = sign_in("manager")
    page.goto(world.system.url(f"/applications/{application['id']}"))
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status").filter(has_text="Approved.")).to_be_visible()
    expect(page.get_by_role("link", name="Open the loan")).to_be_visible()
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)

    stored = world.get_application(application["id"])
    assert stored["status"] == "approved" and stored["loan_id"]
    assert stored["decision"]["by"].startswith("person:manager:"), stored["decision"]


def test_nobody_approves_an_application_they_submitted(world: World, sign_in: SignIn) -> None:
    # the admin may both submit and approve, but maker-checker compares persons
    application = world.application(world.farmer("Chebet Kiprono"), world.lending.strong, person="admin")
    page = sign_in("admin")
    page.goto(world.system.url(f"/applications/{application['id']}"))
    page.get_by_role("button", name="Approve").click()
    refusal = page.get_by_role("alert")
    expect(refusal).to_have_text("You submitted this application; another credit manager must decide it.")
    screenshot(page, "approve-refused")
    assert world.get_application(application["id"])["status"] == "scored"


def test_a_rejection_produces_the_adverse_action_notice_with_the_reasons(
    world: World, sign_in: SignIn
) -> None:
    application = world.application(world.farmer("Daudi Ochieng"), world.lending.weak)
    codes = [r["code"] for r in application["score"]["reasons"]]
    assert len(codes) == 4, application["score"]
    page = sign_in("manager")
    page.goto(world.system.url(f"/applications/{application['id']}"))
    page.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Reject the application")
    assert_reasons(page.locator("ol.reasons li"), codes, 0)  # what will be sent, before sending it
    assert world.get_application(application["id"])["status"] == "scored"

    page.get_by_role("button", name="Reject and issue the notice").click()
    page.wait_for_url("**/notice")
    expect(page.get_by_role("heading", level=1)).to_have_text("Notice of adverse action")
    expect(page.get_by_role("heading", name="The principal reasons for this decision")).to_be_visible()
    assert_reasons(page.locator("article ol.reasons li"), codes, 0)
    screenshot(page, "notice")

    stored = world.get_application(application["id"])
    assert stored["status"] == "rejected"
    assert [r["code"] for r in stored["adverse_action_reasons"]] == codes
    pdf = page.request.get(world.system.url(f"/applications/{application['id']}/notice.pdf"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF-")


def test_the_language_switch_shows_the_chinese_reason_texts_and_switches_back(
    world: World, sign_in: SignIn
) -> None:
    application = world.application(world.farmer("Wang Fang"), world.lending.example)
    codes = [r["code"] for r in application["score"]["reasons"]]
    page = sign_in("officer3")
    page.goto(world.system.url(f"/applications/{application['id']}"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert_reasons(score_card(page).locator("ol.reasons li"), codes, 0)

    page.get_by_role("button", name="中文").click()
    expect(page.get_by_role("button", name="English")).to_be_visible()
    page.wait_for_url(APPLICATION_URL)  # back on the same page
    assert_reasons(score_card(page).locator("ol.reasons li"), codes, 1)
    lang_after_switch = page.evaluate("() => document.documentElement.lang")
    screenshot(page, "application-zh")

    # remembered for the person: another browser of theirs opens in Chinese
    elsewhere = sign_in("officer3")
    expect(elsewhere.get_by_role("button", name="English")).to_be_visible()
    lang_after_sign_in = elsewhere.evaluate("() => document.documentElement.lang")
    elsewhere.reload()
    expect(elsewhere.locator("html")).to_have_attribute("lang", "zh-Hans")

    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("button", name="中文")).to_be_visible()
    assert_reasons(score_card(page).locator("ol.reasons li"), codes, 0)
    lang_after_switching_back = page.evaluate("() => document.documentElement.lang")

    # the page says which language it is in (screen readers read it so), after each switch too
    langs = (lang_after_switch, lang_after_sign_in, lang_after_switching_back)
    assert langs == ("zh-Hans", "zh-Hans", "en"), (
        f"<html lang> after switching to 中文, signing in, switching back: {langs}; the texts changed "
        "but the attribute stayed as it was (htmx swaps only <body>)"
    )


def test_an_application_posted_without_its_csrf_token_is_refused_and_nothing_is_submitted(
    world: World, sign_in: SignIn
) -> None:
    borrower = world.farmer("Esther Njeri")
    page = sign_in("officer")
    page.goto(world.system.url(f"/applications/new?borrower_id={borrower}"))
    fill_application(page, world.lending.example)
    page.evaluate(REMOVE_CSRF)
    page.get_by_role("button", name="Submit the application").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("The form was refused")
    expect(page.get_by_role("alert")).to_contain_text("so nothing was done")
    assert world.applications_of(borrower) == []
