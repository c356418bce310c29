"""Bounds on money and dates (issue 9): deadlines within a configured horizon, and no lot,
total or assignment cap above the configured maximum for its currency."""

from __future__ import annotations

from typing import Any

from services.escrow.settings import EscrowSettings
from tests.escrow.kit import EscrowApi
from tests.factories.escrow import AssignmentPayloadFactory, LotPayloadFactory, at


def fields(problem: dict[str, Any]) -> list[str]:
    return [e["field"] for e in problem["errors"]]


def settings(api: EscrowApi) -> EscrowSettings:
    assert isinstance(api.ctx.settings, EscrowSettings)
    return api.ctx.settings


def test_a_deadline_in_year_9999_is_refused(api: EscrowApi) -> None:
    problem = api.create(funding_deadline="9999-12-31T00:00:00Z", expect=422)
    assert fields(problem) == ["funding_deadline"] and "within 730 days" in problem["errors"][0]["message"]
    lots = [LotPayloadFactory(lot_ref="A", delivery_deadline="9999-12-31T23:59:59Z")]
    problem = api.create(delivery_deadline=at(days=3 * 365), lots=lots, expect=422)
    assert fields(problem) == ["delivery_deadline", "lots.0.delivery_deadline"]
    api.create(funding_deadline=at(days=30), delivery_deadline=at(days=700))


def test_the_deadline_horizon_is_configurable(api: EscrowApi) -> None:
    settings(api).max_deadline_days = 7
    assert fields(api.create(delivery_deadline=at(days=10), expect=422)) == ["delivery_deadline"]
    api.create(delivery_deadline=at(days=6))


def test_amounts_above_the_maximum_per_currency_are_refused(api: EscrowApi) -> None:
    over = [LotPayloadFactory(lot_ref="A", amount_minor=10**12 + 1)]
    assert fields(api.create(lots=over, expect=422)) == ["lots.0.amount_minor"]
    halves = [LotPayloadFactory(lot_ref=ref, amount_minor=6 * 10**11) for ref in ("A", "B")]
    assert fields(api.create(lots=halves, expect=422)) == ["lots"]
    settings(api).max_amount_minor_by_currency = {"KES": 50_000}
    assert fields(api.create(expect=422)) == ["lots.0.amount_minor"]  # lot A is 60,000
    api.create(currency="UGX")  # other currencies keep the default maximum


def test_an_assignment_cap_above_the_maximum_is_refused(api: EscrowApi) -> None:
    settings(api).max_amount_minor_by_currency = {"KES": 10_000}
    body = AssignmentPayloadFactory(cap_minor=10_001)
    assert fields(api.post("/v1/assignments", body, key="admin", expect=422)) == ["cap_minor"]
    api.post("/v1/assignments", AssignmentPayloadFactory(cap_minor=10_000), key="admin", expect=201)
