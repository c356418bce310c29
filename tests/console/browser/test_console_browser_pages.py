"""In the browser: each main page opens for the people it is for (and is written to
``var/screenshots/``), and axe-core finds no serious or critical accessibility violation on the
login page, the review queue, an application, a notice and a decision."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import pytest
from playwright.sync_api import Page, expect

from tests.console.browser.browsing import SignIn, World, axe_violations, describe_violations, screenshot

pytestmark = pytest.mark.xdist_group("browser")


@dataclass(frozen=True)
class Shown:
    """What the pages show: an application (and its decision), a rejected one, a loan, an escrow."""

    application_id: str
    score_id: str
    rejected_id: str
    loan_id: str
    escrow_id: str
    model_version: str


@pytest.fixture(scope="module")
def shown(world: World) -> Shown:
    """Data for the pages, made through the services' APIs."""
    application = world.application(world.farmer("Imani Mutua"), world.lending.example)
    rejected = world.application(world.farmer("Jabari Otieno"), world.lending.weak)
    world.system.api("loans", "POST", f"/v1/applications/{rejected['id']}/reject", {}, person="manager2")
    loan = world.loan("Kamau Njoroge", disbursed=True)
    escrow = world.escrow("browser-order-1")
    return Shown(
        application_id=application["id"],
        score_id=application["score"]["id"],
        rejected_id=rejected["id"],
        loan_id=loan["id"],
        escrow_id=escrow["id"],
        model_version=application["score"]["model_version"],
    )


MAIN_PAGES = {
    "review-queue": ("manager", "/applications"),
    "borrowers": ("officer", "/borrowers"),
    "loan": ("officer", "/loans/{loan_id}"),
    "portfolio": ("manager", "/portfolio"),
    "decision-explorer": ("auditor", "/decisions"),
    "models": ("auditor", "/models"),
    "model": ("auditor", "/models/{model_version}"),
    "monitoring": ("auditor", "/monitoring?segment=farmer"),
    "audit": ("auditor", "/audit"),
    "escrows": ("market-ops", "/escrows"),
    "escrow": ("market-ops", "/escrows/{escrow_id}"),
}
"""Screenshot name -> (the username who opens it, its path); the application, notice, decision and login
pages are written by the flows that reach them."""


@pytest.mark.parametrize("name", list(MAIN_PAGES))
def test_each_main_page_opens_for_its_people(
    name: str, shown: Shown, world: World, signed_in_once: SignIn
) -> None:
    who, path = MAIN_PAGES[name]
    page = signed_in_once(who)
    response = page.goto(world.system.url(path.format(**asdict(shown))))
    assert response is not None and response.status == 200, (response and response.status, page.url)
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    expect(page.get_by_role("alert")).to_have_count(0)  # no error message on the page
    screenshot(page, name)


def _login(page: Page, world: World, shown: Shown) -> None:
    page.goto(world.system.url("/login"))
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()


def _queue(page: Page, world: World, shown: Shown) -> None:
    page.goto(world.system.url("/applications"))
    expect(page.get_by_role("link", name="Imani Mutua").first).to_be_visible()


def _application(page: Page, world: World, shown: Shown) -> None:
    page.goto(world.system.url(f"/applications/{shown.application_id}"))
    expect(page.get_by_role("heading", name="Score card")).to_be_visible()


def _notice(page: Page, world: World, shown: Shown) -> None:
    page.goto(world.system.url(f"/applications/{shown.rejected_id}/notice"))
    expect(page.get_by_role("heading", name="Notice of adverse action")).to_be_visible()


def _decision(page: Page, world: World, shown: Shown) -> None:
    page.goto(world.system.url(f"/decisions/{shown.score_id}"))
    expect(page.get_by_role("button", name="Verify receipt")).to_be_visible()


CHECKED: dict[str, tuple[str | None, Callable[[Page, World, Shown], None]]] = {
    "login": (None, _login),
    "review-queue": ("manager", _queue),
    "application": ("officer", _application),
    "notice": ("manager", _notice),
    "decision": ("auditor", _decision),
}
"""Pages axe-core checks: who opens them (None: a visitor not signed in) and how."""


@pytest.mark.parametrize("name", list(CHECKED))
def test_axe_finds_no_serious_accessibility_violation(
    name: str, shown: Shown, world: World, signed_in_once: SignIn, new_page: Callable[[], Page]
) -> None:
    who, open_page = CHECKED[name]
    page = signed_in_once(who) if who else new_page()
    open_page(page, world, shown)
    violations = axe_violations(page)
    assert not violations, f"{name}: {len(violations)} serious or critical\n{describe_violations(violations)}"
