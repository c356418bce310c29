"""Browser tests: Debian's Chromium, driven by Playwright, against the real system.

Once per test session the whole system is bootstrapped and started as processes, as ``make
run`` does (``tests.console.browser.system``), with a loan product, a second loan officer and a
second credit manager. Each test opens fresh browser contexts (one per person, its own cookies)
and signs in through the login page.

The browser is never downloaded: ``/usr/bin/chromium`` (``apt-get install chromium``; ``.ci/run``
installs it) or the tests fail saying so. ``AGRIFIN_SKIP_BROWSER_TESTS=1`` skips them instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from tests.console.browser.browsing import SCREENSHOTS, Lending, SignIn, World, written_screenshots
from tests.console.browser.system import REPO, System, start_system

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SKIP_ENV = "AGRIFIN_SKIP_BROWSER_TESTS"
WAIT_MS = 20_000
"""How long an action or an ``expect`` waits for the page (a slow shared machine)."""
expect.set_options(timeout=WAIT_MS)

OTHER_PEOPLE = (
    ("officer2", "loan_officer", "Baraka Second-Officer"),
    ("officer3", "loan_officer", "Li Third-Officer"),
    ("manager2", "credit_manager", "Wanjiru Second-Manager"),
)
"""Made with ``agrifin users create --generate`` next to the bootstrap's one user per role."""


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Name the screenshots this run wrote."""
    if written_screenshots:
        terminalreporter.write_line(f"browser screenshots ({len(written_screenshots)}) in {SCREENSHOTS}:")
        for path in written_screenshots:
            terminalreporter.write_line(f"  {path.relative_to(REPO)}")


def _chromium_or_fail() -> None:
    if os.environ.get(SKIP_ENV) == "1":
        pytest.skip(f"browser tests skipped ({SKIP_ENV}=1)")
    if not CHROMIUM.exists():
        pytest.fail(
            f"the browser tests need Debian's Chromium at {CHROMIUM} (apt-get install -y chromium; "
            f".ci/run installs it); set {SKIP_ENV}=1 to skip them instead",
            pytrace=False,
        )


# -- the system ---------------------------------------------------------------------------------


@pytest.fixture(scope="package")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """Scoring, escrow, loans and the console, bootstrapped and serving (stopped at the end)."""
    _chromium_or_fail()
    running = start_system(tmp_path_factory.mktemp("console-browser"), OTHER_PEOPLE)
    yield running
    running.stop()


@pytest.fixture(scope="package")
def world(system: System) -> World:
    """The system with a maker-checker loan product and the farmer features the tests score."""
    example: dict[str, Any] = system.api("scoring", "GET", "/v1/segments/farmer")["example"]
    product = system.api(
        "loans",
        "POST",
        "/v1/products",
        {
            "name": "Maize inputs",
            "currency": "KES",
            "min_principal_minor": 100_000,
            "max_principal_minor": 50_000_000,
            "min_repayments": 1,
            "max_repayments": 24,
            "maker_checker": True,
            "allow_sale_proceeds": True,
            "sale_proceeds_share_bps": 5_000,
        },
    )
    strong = {
        **example,
        "land_area_ha": 8.0,
        "land_tenure": "owned",
        "irrigation": True,
        "years_farming": 25,
        "off_farm_income_monthly": 400.0,
        "prior_loans": 5,
        "on_time_repayment_rate": 1.0,
        "mobile_money_inflow_monthly": 900.0,
        "marketplace_orders_12m": 60,
        "marketplace_volume_12m": 9000.0,
        "marketplace_dispute_rate": 0.0,
        "yield_variability_cv": 0.1,
        "distance_to_market_km": 2.0,
        "rainfall_anomaly_pct": 0.0,
    }
    weak = {
        **example,
        "land_area_ha": 0.3,
        "land_tenure": "sharecropped",
        "irrigation": False,
        "years_farming": 1,
        "coop_member": False,
        "off_farm_income_monthly": 0.0,
        "prior_loans": 0,
        "on_time_repayment_rate": 0.2,
        "mobile_money_inflow_monthly": 5.0,
        "marketplace_orders_12m": 0,
        "marketplace_volume_12m": 0.0,
        "marketplace_dispute_rate": 0.5,
        "yield_variability_cv": 2.0,
        "distance_to_market_km": 80.0,
        "rainfall_anomaly_pct": -60.0,
    }
    return World(system, Lending(str(product["id"]), "KES", example, strong, weak))


# -- the browser --------------------------------------------------------------------------------
# Package-scoped, not session-scoped: Playwright's sync API keeps an event loop running in the
# thread while it lives, and the tests that run after this package on the same worker call
# asyncio.run(); the driver (and the system) stop when the package's last test is done.


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver (it never downloads a browser here: Chromium is Debian's)."""
    _chromium_or_fail()
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless."""
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield launched
    launched.close()


def _new_context(browser: Browser) -> BrowserContext:
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    return context


def _sign_in(page: Page, system: System, username: str) -> Page:
    page.goto(system.url("/login"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(system.people[username]["password"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("form[action='/logout'] button")).to_be_visible()
    return page


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[[], Page]]:
    """A page in a fresh browser context (its own cookies), as a new visitor's browser."""
    contexts: list[BrowserContext] = []

    def make() -> Page:
        contexts.append(_new_context(browser))
        return contexts[-1].new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def sign_in(system: System, new_page: Callable[[], Page]) -> SignIn:
    """``sign_in(username)``: a fresh browser signed in as that console user, on the start page."""
    return lambda username: _sign_in(new_page(), system, username)


@pytest.fixture(scope="module")
def signed_in_once(browser: Browser, system: System) -> Iterator[SignIn]:
    """``signed_in_once(username)``: that person's browser, signed in once for the whole module
    (for tests that only open pages; each goes to its own page first)."""
    kept: dict[str, Page] = {}
    contexts: list[BrowserContext] = []

    def signed_in(username: str) -> Page:
        if username not in kept:
            contexts.append(_new_context(browser))
            kept[username] = _sign_in(contexts[-1].new_page(), system, username)
        return kept[username]

    yield signed_in
    for context in contexts:
        context.close()
