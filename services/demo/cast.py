"""The demo's fixed data: a cooperative, its farmers, one loan product and its decision policy.

Everything that names a record is fixed (national ids, marketplace party ids, the product's
name), so a second run finds what the first registered and reuses it. Money is integer
minor units of ``CURRENCY``. The farmers' own features are given here; the marketplace
features (orders, volume, disputes) are omitted on purpose: loans fills them from escrow's
trade summary of the farmer's marketplace party.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

CURRENCY = "USD"
PRODUCT_NAME = "Demo: seasonal inputs, repaid from sales (USD)"
REPAYMENTS = 3
ANNUAL_RATE = "18"
ORDER_FEE_BPS = 250
SALE_PROCEEDS_SHARE_BPS = 3_000


class Part(StrEnum):
    """What a farmer's application shows in the story."""

    POLICY = "decided by the policy alone"
    REVIEW = "reviewed by a second person"
    LATE = "decided by the policy, then falls into arrears"
    DECLINED = "declined by the policy"


@dataclass(frozen=True)
class Member:
    """A borrower of the story: who, where, its marketplace party and its trade."""

    slug: str
    name: str
    national_id: str
    party_id: str
    region: str
    phone: str
    type: str = "farmer"
    features: dict[str, Any] = field(default_factory=dict)
    part: Part = Part.POLICY
    loan_minor: int = 0
    history_orders: int = 0
    order_minor: int = 0
    season_sale_minor: int = 0
    """What the farmer sells through the marketplace around each due date (0: nothing)."""
    pays_installments: bool = True


COOPERATIVE = Member(
    slug="coop",
    name="Kilimo Bora Cooperative",
    national_id="DEMO-KE-COOP-0001",
    party_id="demo-coop-kilimo-bora",
    region="Nakuru",
    phone="+254700100001",
    type="enterprise",
)
"""The farmers' cooperative: it buys their produce on the marketplace."""

_BASE = {
    "coop_member": True,
    "distance_to_market_km": 14,
    "household_size": 6,
    "irrigation": False,
    "land_area_ha": 2.5,
    "land_tenure": "customary",
    "main_crop": "maize",
    "off_farm_income_monthly": 85,
    "on_time_repayment_rate": 0.9,
    "prior_loans": 2,
    "rainfall_anomaly_pct": -12,
    "years_farming": 12,
    "yield_variability_cv": 0.3,
    "mobile_money_inflow_monthly": 140,
}

FARMERS = (
    Member(
        slug="wanjiru",
        name="Wanjiru Kamau",
        national_id="DEMO-KE-1001",
        party_id="demo-farmer-wanjiru-kamau",
        region="Nakuru",
        phone="+254700100011",
        features={
            **_BASE,
            "irrigation": True,
            "land_area_ha": 3.0,
            "land_tenure": "owned",
            "years_farming": 15,
            "on_time_repayment_rate": 1.0,
            "prior_loans": 3,
            "mobile_money_inflow_monthly": 220,
        },
        part=Part.POLICY,
        loan_minor=30_000,
        history_orders=4,
        order_minor=18_000,
        season_sale_minor=15_000,
    ),
    Member(
        slug="otieno",
        name="Otieno Odhiambo",
        national_id="DEMO-KE-1002",
        party_id="demo-farmer-otieno-odhiambo",
        region="Kisumu",
        phone="+254700100012",
        features={**_BASE, "main_crop": "vegetables", "land_area_ha": 2.0},
        part=Part.REVIEW,
        loan_minor=120_000,
        history_orders=3,
        order_minor=25_000,
        season_sale_minor=25_000,
    ),
    Member(
        slug="nafula",
        name="Nafula Wekesa",
        national_id="DEMO-KE-1004",
        party_id="demo-farmer-nafula-wekesa",
        region="Bungoma",
        phone="+254700100014",
        features={
            **_BASE,
            "coop_member": False,
            "land_area_ha": 0.8,
            "land_tenure": "leased",
            "years_farming": 2,
            "prior_loans": 0,
            "on_time_repayment_rate": 0.0,
            "distance_to_market_km": 60,
            "mobile_money_inflow_monthly": 20,
            "off_farm_income_monthly": 0,
        },
        part=Part.DECLINED,
        loan_minor=20_000,
    ),
)

LATE_PAYER_NAMES = ("Kiprop Chebet", "Achieng Atieno", "Mutua Musyoka", "Njeri Wambui", "Barasa Simiyu")
_LATE_FEATURES = {
    **_BASE,
    "irrigation": True,
    "land_tenure": "owned",
    "years_farming": 14,
    "on_time_repayment_rate": 0.95,
    "prior_loans": 2,
}


def late_payer(index: int) -> Member:
    """The season's farmer whose loan falls into arrears (a new one each season, so a second
    run's policy does not meet the first one's arrears)."""
    name = LATE_PAYER_NAMES[index % len(LATE_PAYER_NAMES)]
    if index >= len(LATE_PAYER_NAMES):
        name = f"{name} {index // len(LATE_PAYER_NAMES) + 1}"
    slug = name.lower().replace(" ", "-")
    return Member(
        slug=slug,
        name=name,
        national_id=f"DEMO-KE-2{index + 1:03d}",
        party_id=f"demo-farmer-{slug}",
        region="Uasin Gishu",
        phone=f"+2547002{index + 1:05d}",
        features=_LATE_FEATURES,
        part=Part.LATE,
        loan_minor=40_000,
        history_orders=3,
        order_minor=12_000,
        pays_installments=False,
    )


PRODUCT = {
    "name": PRODUCT_NAME,
    "currency": CURRENCY,
    "min_principal_minor": 5_000,
    "max_principal_minor": 500_000,
    "min_repayments": 1,
    "max_repayments": 12,
    "min_annual_interest_rate": "0",
    "max_annual_interest_rate": "36",
    "maker_checker": True,
    "allow_sale_proceeds": True,
    "sale_proceeds_share_bps": SALE_PROCEEDS_SHARE_BPS,
    "repayment_frequency": "months",
    "repay_every": 1,
}

POLICY = {
    "auto_approve_min_score": "600",
    "auto_approve_max_principal_minor": 50_000,
    "auto_decline_below_score": "520",
    "max_days_past_due": 30,
    "max_open_loans": 2,
    "review_when_feature_defaulted": True,
    "auto_disburse": True,
}
"""Small loans (at most USD 500.00) of a score of 600 or more decide themselves and are paid
out at once; below 520 the policy declines with the score's reasons; anything else, and any
borrower over 30 days late or with two open loans, waits for a person."""
