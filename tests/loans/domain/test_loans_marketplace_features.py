"""Escrow's trade summary mapped to the marketplace features an application omits (no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.loans.domain.marketplace_features import (
    DISPUTE_RATE,
    ORDERS,
    VOLUME,
    TradeFacts,
    defaulted_features,
    feature_sources,
    marketplace_values,
    omitted_marketplace_features,
)

AS_OF = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
FACTS = TradeFacts(
    as_of=AS_OF,
    escrows=4,
    completed_escrows=3,
    dispute_rate=Decimal("0.2500"),
    net_minor={"KES": 146_299, "UGX": 68_250},
)


def test_each_segment_has_its_marketplace_features_and_null_counts_as_omitted() -> None:
    assert omitted_marketplace_features("farmer", {}) == (ORDERS, VOLUME, DISPUTE_RATE)
    assert omitted_marketplace_features("farmer", {ORDERS: 0, DISPUTE_RATE: None}) == (VOLUME, DISPUTE_RATE)
    assert omitted_marketplace_features("enterprise", {"annual_revenue": 1}) == (VOLUME,)
    assert omitted_marketplace_features("enterprise", {VOLUME: 10.5}) == ()
    assert omitted_marketplace_features("byod-segment", {}) == ()


def test_orders_volume_and_dispute_rate_from_the_summary() -> None:
    values = marketplace_values(FACTS, currency="KES", wanted=(ORDERS, VOLUME, DISPUTE_RATE))
    # 146,299 KES minor units are 1,462.99 KES: whole major units, rounded down
    assert values == {ORDERS: 3, VOLUME: 1462, DISPUTE_RATE: 0.25}
    assert isinstance(values[VOLUME], int) and isinstance(values[ORDERS], int)


@pytest.mark.parametrize(("currency", "volume"), [("UGX", 68_250), ("USD", 0)])
def test_volume_is_in_the_products_currency_only(currency: str, volume: int) -> None:
    """UGX has no minor unit; a currency the party never sold in is 0, never another converted."""
    assert marketplace_values(FACTS, currency=currency, wanted=(VOLUME,)) == {VOLUME: volume}


def test_only_the_wanted_features_and_no_dispute_rate_without_escrows() -> None:
    assert marketplace_values(FACTS, currency="KES", wanted=(DISPUTE_RATE,)) == {DISPUTE_RATE: 0.25}
    empty = TradeFacts(as_of=AS_OF, escrows=0, completed_escrows=0, dispute_rate=Decimal("0.0000"))
    assert marketplace_values(empty, currency="KES", wanted=(ORDERS, VOLUME, DISPUTE_RATE)) == {
        ORDERS: 0,
        VOLUME: 0,
    }


def test_sources_name_the_applicant_the_marketplace_and_the_defaults() -> None:
    features = {"land_area_ha": 2.5, ORDERS: 7, VOLUME: 1462, "yield_variability_cv": None}
    sources = feature_sources(features, filled=[VOLUME], defaulted=[DISPUTE_RATE])
    assert sources == {
        DISPUTE_RATE: "default",
        "land_area_ha": "applicant",
        ORDERS: "applicant",
        VOLUME: "marketplace",
        "yield_variability_cv": "default",
    }
    assert list(sources) == sorted(sources)
    assert defaulted_features(sources) == (DISPUTE_RATE, "yield_variability_cv")
    # a value the caller gave is never said to be defaulted
    assert feature_sources({ORDERS: 3}, defaulted=[ORDERS]) == {ORDERS: "applicant"}
