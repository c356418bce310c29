"""Factories for the escrow tests: request bodies (escrows, lots, assignments).

Times are relative to ``T0``, the start of the ``clock`` fixture (2026-03-02 08:00 UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import factory

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
"""When the test clock starts."""


def at(**delta: float) -> str:
    """``T0`` plus ``delta`` (timedelta keywords) as an ISO-8601 UTC string."""
    return (T0 + timedelta(**delta)).isoformat().replace("+00:00", "Z")


class LotPayloadFactory(factory.DictFactory):
    """One lot of an escrow."""

    lot_ref = factory.Sequence(lambda n: f"L{n}")
    description = "maize, 50 kg bags"
    amount_minor = 60_000


def two_lots() -> list[dict[str, Any]]:
    """The worked example's lots: A 60,000 and B 40,000 KES minor units."""
    return [
        LotPayloadFactory(lot_ref="A", amount_minor=60_000, description="maize, 20 bags"),
        LotPayloadFactory(lot_ref="B", amount_minor=40_000, description="beans, 10 bags"),
    ]


class EscrowPayloadFactory(factory.DictFactory):
    """``POST /v1/escrows``: two lots, 250 bps fee (min 100), 3 days' inspection."""

    order_ref = factory.Sequence(lambda n: f"ORD-{n:05d}")
    buyer_id = factory.Sequence(lambda n: f"buyer-{n}")
    seller_id = "seller-1"
    currency = "KES"
    lots = factory.LazyFunction(two_lots)
    fee = factory.LazyFunction(lambda: {"bps": 250, "min_minor": 100})
    inspection_period_hours = 72
    funding_deadline = factory.LazyFunction(lambda: at(days=2))
    delivery_deadline = factory.LazyFunction(lambda: at(days=10))


class AssignmentPayloadFactory(factory.DictFactory):
    """``POST /v1/assignments``: 20% of seller-1's KES releases to lender-1, up to 15,000."""

    seller_id = "seller-1"
    lender_id = "lender-1"
    currency = "KES"
    share_bps = 2_000
    cap_minor = 15_000
    loan_ref = factory.Sequence(lambda n: f"LN-{n:04d}")
