"""Application pages: the review queue (borrower names, links, filters, pages), the form
generated from the segment's feature spec (refused values beside their fields, nothing lost),
the score card from the real scoring service, Approve with maker-checker between persons,
Reject with its adverse-action notice (page and PDF), the auditor's read-only view, and the
page when scoring does not answer."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.console.domain.formatting import money, number, percent
from services.console.domain.masking import mask_name
from services.console.service import applications as service
from shared.auth import Role
from shared.clock import ManualClock
from tests.console.kit import World, csrf, post_form
from tests.factories.loans import BorrowerPayloadFactory, ProductPayloadFactory

FARMER = {
    "land_area_ha": 2.5,
    "land_tenure": "customary",
    "main_crop": "maize",
    "irrigation": False,
    "years_farming": 12,
    "household_size": 6,
    "coop_member": True,
    "off_farm_income_monthly": 85.0,
    "prior_loans": 2,
    "on_time_repayment_rate": 0.9,
    "mobile_money_inflow_monthly": 140.0,
    "marketplace_orders_12m": 18,
    "marketplace_volume_12m": 1250.0,
    "marketplace_dispute_rate": 0.05,
    "yield_variability_cv": 0.3,
    "distance_to_market_km": 14.0,
    "rainfall_anomaly_pct": -12.0,
}
"""A farmer that scores (the spec's example)."""
WEAK_FARMER = {
    **FARMER,
    "land_area_ha": 0.2,
    "years_farming": 0,
    "coop_member": False,
    "on_time_repayment_rate": 0.1,
    "distance_to_market_km": 400.0,
}
KEY_FIELD = re.compile(r'name="idempotency_key" value="([^"]+)"')


def _post(world: World, path: str, body: Any, *, role: Role = Role.ADMIN) -> Any:
    return world.api(
        "loans", "POST", path, role=role, json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )


def _product(world: World, **overrides: Any) -> dict[str, Any]:
    return dict(_post(world, "/v1/products", ProductPayloadFactory(**overrides)))


def _borrower(world: World, name: str = "Wanjiru Kamau") -> dict[str, Any]:
    return dict(_post(world, "/v1/borrowers", BorrowerPayloadFactory(name=name), role=Role.LOAN_OFFICER))


def _apply(
    world: World, product: dict[str, Any], borrower: dict[str, Any], features: dict[str, Any] = FARMER
) -> dict[str, Any]:
    body = {
        "product_id": product["id"],
        "borrower_id": borrower["id"],
        "principal_minor": 1_200_000,
        "annual_interest_rate": "18",
        "number_of_repayments": 6,
        "disbursement_date": "2026-01-15",
        "features": features,
    }
    application = _post(world, "/v1/applications", body, role=Role.LOAN_OFFICER)
    assert application["status"] == "scored", application
    return dict(application)


def _form_values(product_id: str, borrower_id: str, **overrides: str) -> dict[str, str]:
    values = {
        "product_id": product_id,
        "borrower_id": borrower_id,
        "principal": "12000.00",
        "annual_interest_rate": "18",
        "number_of_repayments": "6",
        "disbursement_date": "2026-01-15",
        "first_repayment_date": "",
    }
    for name, value in FARMER.items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        values[f"features.{name}"] = text
    values.update(overrides)
    return values


def _submit_form(client: Any, values: dict[str, str]) -> httpx.Response:
    page = client.get(f"/applications/new?borrower_id={values['borrower_id']}")
    keys = KEY_FIELD.findall(page.text)
    assert keys, "the form has no idempotency key"
    data = {**values, "csrf_token": csrf(page), "idempotency_key": keys[0]}
    answer: httpx.Response = client.post("/applications", data=data, follow_redirects=False)
    return answer


def _row(page: str, href: str) -> list[str]:
    """The cells' texts of the table row that links to ``href``."""
    for row in re.findall(r"<tr>(.*?)</tr>", page, re.S):
        if f'href="{href}"' in row:
            cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
            return [re.sub(r"<[^>]+>", "", c).strip() for c in cells]
    raise AssertionError(f"no row links to {href}")


def _field_error(page: str, field: str) -> str:
    found = re.search(rf'<span class="field-error" id="e-{re.escape(field)}">([^<]*)</span>', page)
    assert found is not None, f"no error beside {field}"
    return found.group(1)


def _input_value(page: str, field: str) -> str:
    found = re.search(
        rf'<input id="f-{re.escape(field)}" name="{re.escape(field)}" type="\w+" value="([^"]*)"', page
    )
    assert found is not None, f"no input {field}"
    return found.group(1)


def _selected(page: str, field: str) -> str:
    select = re.search(
        rf'<select id="f-{re.escape(field)}" name="{re.escape(field)}".*?</select>', page, re.S
    )
    assert select is not None, f"no select {field}"
    chosen = re.search(r'<option value="([^"]*)" selected>', select.group(0))
    assert chosen is not None, f"nothing selected in {field}"
    return chosen.group(1)


def test_the_queue_lists_applications_with_borrower_names_linked_and_masks_them_for_auditors(
    world: World, clock: ManualClock
) -> None:
    product = _product(world, name="Maize inputs")
    application = _apply(world, product, _borrower(world, "Wanjiru Kamau"))
    clock.advance(timedelta(days=3, hours=2))
    score = world.api("scoring", "GET", f"/v1/scores/{application['score']['id']}")

    page = world.signed_in("amina", Role.LOAN_OFFICER).get("/applications")
    assert page.status_code == 200
    assert f'<a href="/applications/{application["id"]}">Wanjiru Kamau</a>' in page.text
    assert "Maize inputs" in page.text and money(1_200_000, "KES", "en") in page.text
    hint = {"approve": "Approve", "review": "Review", "decline": "Decline"}[score["decision_hint"]]
    assert _row(page.text, f"/applications/{application['id']}") == [
        "Wanjiru Kamau",
        "Maize inputs",
        "Scored, waiting for a decision",
        number(Decimal(str(score["score"])), "en", digits=1),
        score["grade"],
        hint,
        money(1_200_000, "KES", "en"),
        "3",
    ]
    for label in ("Status", "Decision hint", "Grade", "Product"):
        assert f">{label}</label>" in page.text

    audited = world.signed_in("ursula", Role.AUDITOR).get("/applications")
    assert audited.status_code == 200
    assert mask_name("Wanjiru Kamau") in audited.text and "Wanjiru Kamau" not in audited.text
    assert ">New application</a>" not in audited.text
