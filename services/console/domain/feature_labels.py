"""Labels of the scoring features, their categories and units, as people read them (pure).

Scoring's feature specs (``services/scoring/specs/<segment>.yaml``) name features, categories and
units for machines: ``land_area_ha``, ``state_allocated``, ``USD per month``. The application form
and the score card show them as these labels, marked with ``N_`` so the catalogue translates them
where a page renders them (``_(label)``). A feature, category or unit this module does not know
(a spec added later) falls back to its name made readable: ``soil_ph`` -> ``Soil ph``.

Labels hold no percent sign: a page translates them with newstyle gettext, which formats every
message, so ``%`` would have to be written ``%%``.
"""

from __future__ import annotations

from services.console.domain.catalogue import N_

__all__ = [
    "CATEGORY_LABELS",
    "FEATURE_LABELS",
    "UNIT_LABELS",
    "category_label",
    "feature_label",
    "readable",
    "unit_label",
]

FEATURE_LABELS: dict[str, str] = {
    # farmer
    "land_area_ha": N_("Land area (hectares)"),
    "land_tenure": N_("Land tenure"),
    "main_crop": N_("Main crop"),
    "irrigation": N_("Access to irrigation"),
    "years_farming": N_("Years of farming"),
    "household_size": N_("Household size (persons)"),
    "coop_member": N_("Member of a cooperative"),
    "off_farm_income_monthly": N_("Off-farm income per month (USD)"),
    "prior_loans": N_("Number of previous loans"),
    "on_time_repayment_rate": N_("Share of past repayments made on time"),
    "mobile_money_inflow_monthly": N_("Mobile-money inflows per month (USD)"),
    "marketplace_orders_12m": N_("Marketplace orders in the last 12 months"),
    "marketplace_dispute_rate": N_("Share of marketplace orders disputed"),
    "yield_variability_cv": N_("Yield variability (coefficient of variation)"),
    "distance_to_market_km": N_("Distance to the nearest market (km)"),
    "rainfall_anomaly_pct": N_("Rainfall anomaly (percent vs. 10-year mean)"),
    # farmer and enterprise
    "marketplace_volume_12m": N_("Marketplace volume in the last 12 months (USD)"),
    # enterprise
    "years_operating": N_("Years in operation"),
    "enterprise_type": N_("Type of enterprise"),
    "annual_revenue": N_("Annual revenue (USD)"),
    "revenue_growth_pct": N_("Revenue growth (percent, year on year)"),
    "net_margin_pct": N_("Net margin (percent of revenue)"),
    "current_ratio": N_("Current ratio"),
    "debt_to_equity": N_("Debt-to-equity ratio"),
    "supplier_farmers": N_("Number of supplying farmers"),
    "on_time_delivery_rate": N_("Share of deliveries made on time"),
    "audited_accounts": N_("Audited accounts"),
    "customer_concentration_pct": N_("Revenue from the largest buyer (percent)"),
    "max_days_past_due_24m": N_("Most days past due in the last 24 months"),
    "employees": N_("Number of employees"),
}
"""Feature name -> label, for every feature of the built-in specs (farmer, enterprise)."""

CATEGORY_LABELS: dict[str, dict[str, str]] = {
    "land_tenure": {
        "owned": N_("Owned"),
        "leased": N_("Leased"),
        "customary": N_("Customary tenure"),
        "communal": N_("Communal land"),
        "sharecropped": N_("Sharecropped"),
        "state_allocated": N_("Allocated by the state"),
    },
    "main_crop": {
        "maize": N_("Maize"),
        "rice": N_("Rice"),
        "wheat": N_("Wheat"),
        "cassava": N_("Cassava"),
        "coffee": N_("Coffee"),
        "tea": N_("Tea"),
        "cocoa": N_("Cocoa"),
        "vegetables": N_("Vegetables"),
        "fruit": N_("Fruit"),
        "livestock": N_("Livestock"),
        "aquaculture": N_("Aquaculture"),
        "other": N_("Other"),
    },
    "enterprise_type": {
        "cooperative": N_("Cooperative"),
        "processor": N_("Processor"),
        "trader": N_("Trader"),
        "aggregator": N_("Aggregator"),
        "input_supplier": N_("Input supplier"),
        "exporter": N_("Exporter"),
        "logistics": N_("Logistics"),
    },
}
"""Feature name -> category value -> label, for every categorical feature of the built-in specs."""

UNIT_LABELS: dict[str, str] = {
    "hectares": N_("hectares"),
    "years": N_("years"),
    "persons": N_("persons"),
    "count": N_("count"),
    "days": N_("days"),
    "km": N_("km"),
    "farmers": N_("farmers"),
    "ratio": N_("ratio"),
    "fraction": N_("fraction (0 to 1)"),
    "fraction of orders": N_("fraction of orders (0 to 1)"),
    "coefficient of variation": N_("coefficient of variation"),
    "orders in 12 months": N_("orders in 12 months"),
    "USD per month": N_("USD per month"),
    "USD per year": N_("USD per year"),
    "USD in 12 months": N_("USD in 12 months"),
    "percent year on year": N_("percent, year on year"),
    "percent of revenue": N_("percent of revenue"),
    "percent of revenue from largest buyer": N_("percent of revenue from the largest buyer"),
    "percent vs. 10-year mean": N_("percent vs. 10-year mean"),
}
"""A spec's unit -> its label, for every unit of the built-in specs a form shows (not ``category``
or ``flag``, which a select shows by its options)."""


def readable(name: str) -> str:
    """``land_area_ha`` -> ``Land area ha``: a machine name as words, first letter upper case."""
    words = " ".join(name.replace("_", " ").split())
    return words[:1].upper() + words[1:]


def feature_label(name: str) -> str:
    """The (untranslated) label of a feature; a feature no spec here names reads as its words."""
    return FEATURE_LABELS.get(name) or readable(name)


def category_label(feature: str, value: str) -> str:
    """The (untranslated) label of one of a categorical feature's values, else the value's words."""
    return CATEGORY_LABELS.get(feature, {}).get(value) or readable(value)


def unit_label(unit: str) -> str:
    """The (untranslated) label of a spec's unit, else the unit as the spec writes it."""
    return UNIT_LABELS.get(unit) or unit
