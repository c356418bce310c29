"""In the browser: signing in, the language switch, and forms without their CSRF token."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.console.browser.browsing import SignIn, axe_violations, describe_violations, screenshot
from tests.console.browser.system import System

pytestmark = pytest.mark.xdist_group("browser")


def test_a_logged_out_visitor_is_sent_to_the_login_page(system: System, new_page: Callable[[], Page]) -> None:
    page = new_page()
    page.goto(system.url("/applications"))
    page.wait_for_url("**/login?next=/applications")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Sign in")
    expect(page.get_by_label("Username")).to_be_editable()
    expect(page.get_by_label("Password")).to_have_attribute("type", "password")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    screenshot(page, "login")
    violations = axe_violations(page)
    assert not violations, describe_violations(violations)

    # signing in there leads back to the page the visitor asked for
    page.get_by_label("Username").fill("officer2")
    page.get_by_label("Password").fill(system.people["officer2"]["password"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/applications")
    expect(page.locator("form[action='/logout'] button")).to_be_visible()


def test_a_wrong_password_is_refused_on_the_login_page(system: System, new_page: Callable[[], Page]) -> None:
    page = new_page()
    page.goto(system.url("/login"))
    page.get_by_label("Username").fill("manager2")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not right")
    expect(page.get_by_label("Username")).to_have_value("manager2")
    expect(page.locator("form[action='/logout']")).to_have_count(0)


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    sign_in: SignIn, system: System
) -> None:
    page = sign_in("manager2")
    switch = page.get_by_role("button", name="中文")
    expect(switch).to_be_visible()
    page.evaluate("() => document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    switch.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("The form was refused")
    expect(page.get_by_role("alert")).to_contain_text("nothing was done")
    screenshot(page, "csrf-refused")

    # nothing changed: the start page is still in English and offers 中文
    page.goto(system.url("/"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("button", name="中文")).to_be_visible()
