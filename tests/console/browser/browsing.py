"""What the browser tests share: the lending set-up they work with, screenshots, and axe-core."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from services.scoring.repository.specs import load_segment_spec
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
    """The running system and its lending set-up; set-up calls go through the services' APIs."""

    system: System
    lending: Lending

    def farmer(self, name: str, *, person: str = "officer2") -> str:
        """Register a farmer (as the console person ``person``); the borrower id."""
        answer = self.system.api(
            "loans",
            "POST",
            "/v1/borrowers",
            {
                "type": "farmer",
                "name": name,
                "national_id": f"KE-{uuid.uuid4().int % 10**8:08d}",
                "phone": "+254700000123",
                "region": "Kisumu",
            },
            person=person,
        )
        return str(answer["id"])

    def application(
        self, borrower_id: str, features: dict[str, Any], *, person: str = "officer2"
    ) -> dict[str, Any]:
        """Submit an application (scored) as the console person ``person``; loans' answer."""
        answer: dict[str, Any] = self.system.api(
            "loans",
            "POST",
            "/v1/applications",
            {
                "product_id": self.lending.product_id,
                "borrower_id": borrower_id,
                "principal_minor": 1_200_000,
                "annual_interest_rate": "18",
                "number_of_repayments": 6,
                "disbursement_date": today(),
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

    def applications_of(self, borrower_id: str) -> list[dict[str, Any]]:
        """Every application of a borrower, as loans has them."""
        answer: list[dict[str, Any]] = self.system.api(
            "loans", "GET", f"/v1/applications?borrower_id={borrower_id}"
        )
        return answer

    def loan(self, name: str, *, disbursed: bool) -> dict[str, Any]:
        """A farmer's loan: submitted by officer2, approved (and disbursed) by manager2."""
        application = self.application(self.farmer(name), self.lending.strong)
        loan: dict[str, Any] = self.system.api(
            "loans", "POST", f"/v1/applications/{application['id']}/approve", {}, person="manager2"
        )
        if disbursed:
            loan = self.system.api(
                "loans", "POST", f"/v1/loans/{loan['id']}/disburse", {"date": today()}, person="manager2"
            )
        return loan

    def escrow(self, order_ref: str) -> dict[str, Any]:
        """An escrow of the dev marketplace with two lots (marketplace key)."""
        later = datetime.now(UTC)
        answer: dict[str, Any] = self.system.api(
            "escrow",
            "POST",
            "/v1/escrows",
            {
                "order_ref": order_ref,
                "buyer_id": "buyer-7",
                "seller_id": "seller-7",
                "currency": "KES",
                "lots": [
                    {"lot_ref": "A", "description": "maize, 10 bags", "amount_minor": 600_000},
                    {"lot_ref": "B", "description": "beans, 4 bags", "amount_minor": 240_000},
                ],
                "fee": {"bps": 250},
                "inspection_period_hours": 48,
                "funding_deadline": _iso(later + timedelta(days=30)),
                "delivery_deadline": _iso(later + timedelta(days=60)),
            },
            key="marketplace",
        )
        return answer


def today() -> str:
    """The services' day (UTC), ISO 8601."""
    return datetime.now(UTC).date().isoformat()


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def reason_texts(segment: str = "farmer") -> dict[str, tuple[re.Pattern[str], re.Pattern[str]]]:
    """Reason code -> (English, Chinese) pattern matching any text the segment's spec gives the
    reason: its plain text, or the ``low`` / ``high`` one the applicant's value chose."""
    spec = load_segment_spec(segment)
    out: dict[str, tuple[re.Pattern[str], re.Pattern[str]]] = {}
    for f in spec.features:
        sides = [f.reason_spec, *(t for t in (f.reason_spec.low, f.reason_spec.high) if t is not None)]
        english = re.compile("|".join(re.escape(t.en) for t in sides))
        chinese = re.compile("|".join(re.escape(t.zh or t.en) for t in sides))
        out[f.reason_spec.code] = (english, chinese)
    return out


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
