"""What the browser tests share: the lending set-up they work with, screenshots, and axe-core."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from tests.console.browser.system import REPO, System

SCREENSHOTS = REPO / "var" / "screenshots"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
SERIOUS = ("serious", "critical")

SignIn = Callable[[str], Page]
"""The ``sign_in`` fixture: ``sign_in(username)`` is a fresh browser signed in as that person."""

written_screenshots: list[Path] = []
"""Every screenshot this run wrote (the terminal summary names them)."""


@dataclass
class Lending:
    """What the tests lend with: a product (maker-checker on), segment features that score."""

    product_id: str
    currency: str
    example: dict[str, Any]
    """The farmer spec's example: scores with a ``review`` hint and several reasons."""
    strong: dict[str, Any]
    """A farmer that scores well (hint ``approve``)."""
    weak: dict[str, Any]
    """A farmer that scores badly (hint ``decline``, four reasons)."""


@dataclass
class World:
    """The running system and its lending set-up."""

    system: System
    lending: Lending

    def borrower(self, name: str, national_id: str, *, person: str = "officer2") -> str:
        """Register a farmer (through loans' API, as ``person``); the borrower id."""
        answer = self.system.api(
            "loans",
            "POST",
            "/v1/borrowers",
            {"type": "farmer", "name": name, "national_id": national_id, "phone": "+254700000123"},
            person=person,
        )
        return str(answer["id"])

    def application(
        self,
        borrower_id: str,
        features: dict[str, Any],
        *,
        person: str = "officer2",
        principal_minor: int = 1_200_000,
    ) -> dict[str, Any]:
        """Submit and score an application as the console person ``person``; the application."""
        answer: dict[str, Any] = self.system.api(
            "loans",
            "POST",
            "/v1/applications",
            {
                "product_id": self.lending.product_id,
                "borrower_id": borrower_id,
                "principal_minor": principal_minor,
                "annual_interest_rate": "18",
                "number_of_repayments": 6,
                "disbursement_date": date.today().isoformat(),
                "features": features,
            },
            person=person,
        )
        assert answer["status"] == "scored", answer
        return answer

    def get_application(self, application_id: str) -> dict[str, Any]:
        """An application as loans has it now."""
        answer: dict[str, Any] = self.system.api("loans", "GET", f"/v1/applications/{application_id}")
        return answer


def screenshot(page: Page, name: str) -> Path:
    """Write ``var/screenshots/<name>.png`` (the whole page) and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    written_screenshots.append(path)
    return path


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run the vendored axe-core on the page; its violations of impact serious or critical."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [v for v in result["violations"] if v.get("impact") in SERIOUS]


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """axe's violations as readable lines: rule, impact, help, and each offending element."""
    lines: list[str] = []
    for violation in violations:
        lines.append(
            f"{violation['id']} ({violation['impact']}): {violation['help']} — {violation['helpUrl']}"
        )
        for node in violation["nodes"][:10]:
            target = " ".join(map(str, node.get("target", [])))
            summary = re.sub(r"\s+", " ", node.get("failureSummary", "")).strip()
            lines.append(f"    {target}: {summary}")
            lines.append(f"        {node.get('html', '')[:200]}")
    return "\n".join(lines)
