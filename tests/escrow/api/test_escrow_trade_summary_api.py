"""GET /v1/parties/{party_id}/trade-summary: a seller's trade over twelve months, hand-computed.

Seller ``farmer-1``, escrows created at T0 (fee 250 bps, min 100; lot deadlines T0 + 10 days):

* E1 KES: A 60,000 delivered on time, accepted (fee 1,500); B 40,000 delivered on time,
  30,000 accepted (fee 750), 10,000 refunded -> completed;
* E2 KES: A 60,000 delivered on time, disputed, resolved 20,000 to the seller (fee 500),
  40,000 refunded; B 40,000 delivered late (T0 + 11 days), accepted (fee 1,000) -> completed;
* E3 UGX: A 50,000 delivered on time, rejected and returned (50,000 refunded); B 70,000
  delivered late, accepted (fee 1,750) -> completed;
* E7 KES: one lot of 10,000, shipped only -> in progress.

Left out: an unfunded escrow of farmer-1, another seller's, and one of farmer-1's created at
T0 + 11 days, the window's (exclusive) end.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest

from shared.clock import ManualClock
from tests.escrow.kit import EscrowApi
from tests.factories.escrow import LotPayloadFactory, at

SELLER = "farmer-1"


def _summary(api: EscrowApi, party: str, as_of: str | None = None, *, key: str = "service") -> dict[str, Any]:
    query = "" if as_of is None else f"?as_of={quote(as_of)}"
    return api.get(f"/v1/parties/{party}/trade-summary{query}", key=key)


def _funded(api: EscrowApi, **overrides: Any) -> str:
    eid = str(api.create(seller_id=SELLER, **overrides)["id"])
    api.fund(eid)
    return eid


def _trade(api: EscrowApi, clock: ManualClock) -> None:
    e1 = _funded(api)
    api.ship_and_deliver(e1, "A")
    api.lot(e1, "A", "accept")
    api.ship_and_deliver(e1, "B")
    api.lot(e1, "B", "accept", {"amount_minor": 30_000})

    e2 = _funded(api)
    api.ship_and_deliver(e2, "A")
    api.lot(e2, "A", "dispute", {"reason": "wrong grade"})
    api.lot(e2, "A", "resolve", {"seller_minor": 20_000}, key="admin")
    api.lot(e2, "B", "ship", {"carrier": "G4S", "tracking": "T-B"})

    e3 = _funded(
        api,
        currency="UGX",
        lots=[
            LotPayloadFactory(lot_ref="A", amount_minor=50_000),
            LotPayloadFactory(lot_ref="B", amount_minor=70_000),
        ],
    )
    api.ship_and_deliver(e3, "A")
    api.lot(e3, "A", "reject", {"reason": "mouldy"})
    api.lot(e3, "A", "return-received")
    api.lot(e3, "B", "ship", {"carrier": "G4S", "tracking": "T-B"})

    e7 = _funded(api, lots=[LotPayloadFactory(lot_ref="A", amount_minor=10_000)])
    api.lot(e7, "A", "ship", {"carrier": "G4S", "tracking": "T-A"})

    api.create(seller_id=SELLER)  # never funded
    other = str(api.create(seller_id="farmer-2")["id"])
    api.fund(other)
    api.ship_and_deliver(other, "A")
    api.lot(other, "A", "accept")

    clock.advance(timedelta(days=11))  # past every lot's delivery deadline (T0 + 10 days)
    api.lot(e2, "B", "deliver")
    api.lot(e2, "B", "accept")
    api.lot(e3, "B", "deliver")
    api.lot(e3, "B", "accept")
    _funded(api, funding_deadline=at(days=13), delivery_deadline=at(days=20))  # at the window's end


def _rate(value: str, numerator: int, denominator: int) -> dict[str, Any]:
    return {"value": value, "numerator": numerator, "denominator": denominator}


def test_the_summary_matches_the_hand_computed_figures(api: EscrowApi, clock: ManualClock) -> None:
    _trade(api, clock)
    # The window's end given at +03:00 is T0 + 11 days in UTC.
    body = _summary(api, SELLER, "2026-03-13T11:00:00+03:00")
    assert body == {
        "party_id": SELLER,
        "as_of": "2026-03-13T08:00:00Z",
        "window_start": "2025-03-13T08:00:00Z",
        "escrows": 4,
        "completed_escrows": 3,
        "on_time_delivery_rate": _rate("0.6667", 4, 6),
        "acceptance_rate": _rate("0.6667", 4, 6),
        "dispute_rate": _rate("0.2500", 1, 4),
        "currencies": [
            {
                "currency": "KES",
                "escrows": 3,
                "completed_escrows": 2,
                "gross_minor": 150_000,
                "fees_minor": 3_750,
                "net_minor": 146_250,
                "refunds": 2,
                "refunded_minor": 50_000,
            },
            {
                "currency": "UGX",
                "escrows": 1,
                "completed_escrows": 1,
                "gross_minor": 70_000,
                "fees_minor": 1_750,
                "net_minor": 68_250,
                "refunds": 1,
                "refunded_minor": 50_000,
            },
        ],
    }
    # Twelve months later the T0 escrows have left the window; the one at T0 + 11 days is in it.
    later = _summary(api, SELLER, "2027-03-02T08:00:00Z", key="auditor")
    assert (later["window_start"], later["escrows"], later["completed_escrows"]) == (
        "2026-03-02T08:00:00Z",
        5,
        3,
    )
    after = _summary(api, SELLER, "2027-03-03T08:00:00Z", key="admin")
    assert (after["escrows"], [c["currency"] for c in after["currencies"]]) == (1, ["KES"])
    assert after["currencies"][0]["gross_minor"] == 0


def test_an_unknown_party_has_an_empty_summary_and_as_of_defaults_to_now(api: EscrowApi) -> None:
    body = _summary(api, "nobody")
    assert body["as_of"] == "2026-03-02T08:00:00Z"
    assert (body["escrows"], body["completed_escrows"], body["currencies"]) == (0, 0, [])
    zero = _rate("0.0000", 0, 0)
    assert [body[k] for k in ("on_time_delivery_rate", "acceptance_rate", "dispute_rate")] == [zero] * 3


@pytest.mark.parametrize(("key", "status"), [("market", 403), ("officer", 403), ("service", 200)])
def test_only_loans_auditors_and_admins_read_a_summary(api: EscrowApi, key: str, status: int) -> None:
    api.get(f"/v1/parties/{SELLER}/trade-summary", key=key, expect=status)


def test_a_naive_as_of_is_refused(api: EscrowApi) -> None:
    api.get(f"/v1/parties/{SELLER}/trade-summary?as_of=2026-03-02T08:00:00", key="service", expect=422)
