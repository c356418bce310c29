"""Seeded synthetic applicants with a known ground-truth risk, per segment.

Every generator is vectorised numpy (``numpy.random.Generator`` / PCG64 seeded with
``seed``), so the same ``(n, seed)`` gives the same frame, and 1M rows take a few seconds.
The frame has the spec's feature columns (categoricals as ``pandas.Categorical`` in spec
order, booleans as ``bool``, missing as NaN) plus a ``default`` 0/1 column drawn as
``Bernoulli(sigmoid(z))`` from the documented log-odds ``z``. Default rate ≈ 10–12 %.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from services.scoring.domain.scale import sigmoid

FloatArray = npt.NDArray[np.float64]
TARGET = "default"

_TENURE = ("owned", "leased", "customary", "communal", "sharecropped", "state_allocated")
_TENURE_P = (0.35, 0.20, 0.25, 0.125, 0.06, 0.015)
_TENURE_EFFECT = (-0.25, 0.0, 0.10, 0.15, 0.45, 0.0)
_CROPS = (
    "maize", "rice", "wheat", "cassava", "coffee", "tea",
    "cocoa", "vegetables", "fruit", "livestock", "aquaculture", "other",
)  # fmt: skip
_CROPS_P = (0.25, 0.15, 0.08, 0.10, 0.07, 0.05, 0.04, 0.10, 0.06, 0.07, 0.01, 0.02)
_CROPS_EFFECT = (0.0, -0.05, -0.10, 0.15, 0.20, -0.10, 0.25, 0.10, 0.05, -0.05, 0.35, 0.20)
_ETYPES = (
    "cooperative", "processor", "trader", "aggregator", "input_supplier", "exporter", "logistics",
)  # fmt: skip
_ETYPES_P = (0.35, 0.20, 0.25, 0.10, 0.06, 0.03, 0.01)
_ETYPES_EFFECT = (0.0, -0.10, 0.20, 0.10, 0.05, -0.20, 0.30)

# z = intercept + EFFECT_SCALE × (documented effects); the scale sets the signal strength
# (true-model AUC ≈ 0.77 farmer, 0.81 enterprise), the intercepts a default rate ≈ 11 %.
EFFECT_SCALE = 1.6
FARMER_INTERCEPT = -1.35
ENTERPRISE_INTERCEPT = -2.15
UNLINKED_RATE = 0.04
"""Share of rows whose trade history is unknown (not on the marketplace, or escrow could not
be asked): their marketplace features are missing, with the risk of no trade at all."""


def _categorical(rng: np.random.Generator, n: int, probs: Sequence[float]) -> npt.NDArray[np.int64]:
    cum = np.cumsum(np.asarray(probs, dtype=np.float64))
    cum /= cum[-1]
    codes = np.searchsorted(cum, rng.random(n), side="right")
    return np.minimum(codes, len(probs) - 1).astype(np.int64)


def _lognormal(rng: np.random.Generator, median: float, sigma: float, n: int) -> FloatArray:
    return np.asarray(np.exp(np.log(median) + sigma * rng.standard_normal(n)), dtype=np.float64)


def _with_missing(rng: np.random.Generator, values: FloatArray, rate: float) -> FloatArray:
    out = values.copy()
    out[rng.random(len(values)) < rate] = np.nan
    return out


def generate_farmers(n: int, seed: int = 0) -> pd.DataFrame:
    """Synthetic farmers with ``default`` drawn from the ground-truth log-odds ``z``.

    ``z = −1.35 + 1.6 · (``  (FARMER_INTERCEPT, EFFECT_SCALE)
    ``− 0.30·ln(1 + land_area_ha)``
    ``+ tenure[land_tenure]`` (owned −0.25, leased 0, customary +0.10, communal +0.15,
    sharecropped +0.45, state_allocated 0)
    ``+ crop[main_crop]`` (maize 0, rice −0.05, wheat −0.10, cassava +0.15, coffee +0.20,
    tea −0.10, cocoa +0.25, vegetables +0.10, fruit +0.05, livestock −0.05,
    aquaculture +0.35, other +0.20)
    ``− 0.40·irrigation − 0.025·min(years_farming, 25) − 0.30·coop_member``
    ``− 0.20·ln(1 + off_farm_income_monthly/50)`` (missing → 0)
    ``+ 0.35·[prior_loans = 0] − 3.0·(on_time_repayment_rate − 0.85)`` (missing → 0)
    ``− 0.15·ln(1 + mobile_money_inflow_monthly/100)`` (missing → 0)
    ``− 0.20·ln(1 + marketplace_orders_12m) − 0.05·ln(1 + marketplace_volume_12m/1000)``
    ``+ 4.0·marketplace_dispute_rate`` (missing → 0)
    ``+ 1.5·yield_variability_cv`` (missing → 0.35)
    ``+ 0.02·max(0, −rainfall_anomaly_pct) + 0.01·max(0, rainfall_anomaly_pct − 25)``
    (missing → 0) ``)``.

    **No true effect:** ``household_size`` and ``distance_to_market_km``.
    Missing values: ``on_time_repayment_rate`` iff ``prior_loans == 0``;
    ``marketplace_dispute_rate`` iff ``marketplace_orders_12m == 0``; all three marketplace
    features for ``UNLINKED_RATE`` of rows (trade history unknown: risk as no trade, missing → 0);
    ``yield_variability_cv`` when ``years_farming < 2`` and 3 % at random;
    ``off_farm_income_monthly`` 5 %, ``mobile_money_inflow_monthly`` 8 %,
    ``rainfall_anomaly_pct`` 2 %. Rare categories: ``state_allocated`` tenure (1.5 %),
    ``aquaculture`` crop (1 %).
    """
    rng = np.random.default_rng(seed)
    tenure = _categorical(rng, n, _TENURE_P)
    crop = _categorical(rng, n, _CROPS_P)
    land = np.round(np.clip(_lognormal(rng, 1.5, 0.9, n), 0.05, 500.0), 2)
    irrigation = rng.random(n) < np.where(land > 3.0, 0.30, 0.15)
    years = np.clip(np.round(rng.gamma(3.0, 6.0, n)), 0, 60)
    household = np.clip(rng.poisson(4.5, n) + 1, 1, 30).astype(np.float64)
    coop = rng.random(n) < 0.35
    off_farm = np.round(_lognormal(rng, 60.0, 1.1, n) * (rng.random(n) < 0.6), 2)
    off_farm = _with_missing(rng, off_farm, 0.05)
    prior = np.clip(rng.poisson(1.2, n), 0, 100).astype(np.float64)
    repay = np.round(rng.beta(8.0, 1.5, n), 3)
    repay[prior == 0] = np.nan
    mobile = _with_missing(rng, np.round(_lognormal(rng, 120.0, 1.0, n), 2), 0.08)
    orders = rng.poisson(np.exp(np.log(8.0) + 1.0 * rng.standard_normal(n))).astype(np.float64)
    orders[rng.random(n) < 0.12] = 0.0
    volume = np.round(orders * _lognormal(rng, 60.0, 0.6, n), 2)
    dispute = np.round(rng.beta(1.0, 25.0, n), 4)
    dispute[orders == 0] = np.nan
    cv = np.round(rng.gamma(4.0, 0.07, n) * np.where(irrigation, 0.6, 1.0), 3)
    cv = _with_missing(rng, np.clip(cv, 0.0, 5.0), 0.03)
    cv[years < 2] = np.nan
    distance = np.round(np.clip(_lognormal(rng, 12.0, 0.8, n), 0.1, 1000.0), 1)
    rain = np.round(np.clip(rng.normal(0.0, 18.0, n), -100.0, 300.0), 1).astype(np.float64)
    rain = _with_missing(rng, rain, 0.02)

    frame = pd.DataFrame(
        {
            "land_area_ha": land,
            "land_tenure": pd.Categorical.from_codes(tenure, dtype=pd.CategoricalDtype(list(_TENURE))),
            "main_crop": pd.Categorical.from_codes(crop, dtype=pd.CategoricalDtype(list(_CROPS))),
            "irrigation": irrigation,
            "years_farming": years,
            "household_size": household,
            "coop_member": coop,
            "off_farm_income_monthly": off_farm,
            "prior_loans": prior,
            "on_time_repayment_rate": repay,
            "mobile_money_inflow_monthly": mobile,
            "marketplace_orders_12m": orders,
            "marketplace_volume_12m": volume,
            "marketplace_dispute_rate": dispute,
            "yield_variability_cv": cv,
            "distance_to_market_km": distance,
            "rainfall_anomaly_pct": rain,
        }
    )
    draws = rng.random(n)
    unlinked = rng.random(n) < UNLINKED_RATE  # drawn after the target's draws: the rest is unchanged
    frame.loc[unlinked, ["marketplace_orders_12m", "marketplace_volume_12m", "marketplace_dispute_rate"]] = (
        np.nan
    )
    frame[TARGET] = (draws < sigmoid(farmer_log_odds(frame))).astype(np.int8)
    return frame


def generate_enterprises(n: int, seed: int = 0) -> pd.DataFrame:
    """Synthetic agricultural enterprises with ``default`` drawn from log-odds ``z``.

    ``z = −2.15 + 1.6 · (``  (ENTERPRISE_INTERCEPT, EFFECT_SCALE)
    ``− 0.04·min(years_operating, 20) + type[enterprise_type]`` (cooperative 0,
    processor −0.10, trader +0.20, aggregator +0.10, input_supplier +0.05,
    exporter −0.20, logistics +0.30)
    ``− 0.25·ln(annual_revenue/300 000) − 0.01·clip(revenue_growth_pct, −50, 50)``
    (missing → 0) ``− 0.06·net_margin_pct − 0.60·ln(current_ratio)``
    ``+ 0.35·ln(1 + debt_to_equity) − 0.05·ln(1 + supplier_farmers)``
    ``− 3.0·(on_time_delivery_rate − 0.90)`` (missing → 0)
    ``− 0.05·ln(1 + marketplace_volume_12m/10 000) − 0.35·audited_accounts``
    ``+ 0.012·customer_concentration_pct`` (missing → 40)
    ``+ 0.50·ln(1 + max_days_past_due_24m/10)`` (missing, i.e. no credit history → +0.30) ``)``.

    **No true effect:** ``employees`` (correlated with revenue, so a model may still use it).
    Missing values: ``revenue_growth_pct`` when ``years_operating < 2``;
    ``marketplace_volume_12m`` for ``UNLINKED_RATE`` of rows (unknown: risk as none, missing → 0);
    ``on_time_delivery_rate`` 6 %, ``customer_concentration_pct`` 8 %,
    ``max_days_past_due_24m`` 12 % (no history). Rare categories: ``exporter`` (3 %),
    ``logistics`` (1 %).
    """
    rng = np.random.default_rng(seed)
    years = np.clip(np.round(rng.gamma(2.0, 5.0, n)), 0, 150)
    etype = _categorical(rng, n, _ETYPES_P)
    revenue = np.round(np.clip(_lognormal(rng, 300_000.0, 1.2, n), 1_000.0, 1e10), 0)
    growth = np.round(np.clip(rng.normal(5.0, 18.0, n), -100.0, 1000.0), 1)
    growth[years < 2] = np.nan
    margin = np.round(np.clip(rng.normal(4.0, 7.0, n), -100.0, 100.0), 2)
    current = np.round(np.clip(_lognormal(rng, 1.3, 0.45, n), 0.01, 50.0), 3)
    leverage = np.round(np.clip(_lognormal(rng, 1.0, 0.8, n), 0.0, 100.0), 3)
    sourcing = np.isin(etype, (0, 1, 3))
    suppliers = np.round(np.where(sourcing, _lognormal(rng, 200.0, 1.0, n), _lognormal(rng, 20.0, 1.2, n)))
    suppliers = np.clip(suppliers, 0, 1_000_000)
    delivery = _with_missing(rng, np.round(rng.beta(12.0, 1.5, n), 3), 0.06)
    volume = np.round(revenue * rng.beta(2.0, 6.0, n), 0)
    audited = rng.random(n) < sigmoid(-1.0 + 0.5 * np.log(revenue / 300_000.0))
    concentration = _with_missing(rng, np.round(rng.beta(2.0, 4.0, n) * 100.0, 1), 0.08)
    dpd = np.where(rng.random(n) < 0.75, 0.0, np.round(_lognormal(rng, 20.0, 0.9, n)))
    dpd = _with_missing(rng, np.clip(dpd, 0, 3650), 0.12)
    employees = np.clip(np.round(_lognormal(rng, 1.0, 0.5, n) * revenue / 20_000.0), 0, 100_000)

    frame = pd.DataFrame(
        {
            "years_operating": years,
            "enterprise_type": pd.Categorical.from_codes(etype, dtype=pd.CategoricalDtype(list(_ETYPES))),
            "annual_revenue": revenue,
            "revenue_growth_pct": growth,
            "net_margin_pct": margin,
            "current_ratio": current,
            "debt_to_equity": leverage,
            "supplier_farmers": suppliers,
            "on_time_delivery_rate": delivery,
            "marketplace_volume_12m": volume,
            "audited_accounts": audited,
            "customer_concentration_pct": concentration,
            "max_days_past_due_24m": dpd,
            "employees": employees,
        }
    )
    draws = rng.random(n)
    unlinked = rng.random(n) < UNLINKED_RATE  # drawn after the target's draws: the rest is unchanged
    frame.loc[unlinked, "marketplace_volume_12m"] = np.nan
    frame[TARGET] = (draws < sigmoid(enterprise_log_odds(frame))).astype(np.int8)
    return frame


def _values(frame: pd.DataFrame, name: str) -> FloatArray:
    column = frame[name]
    if isinstance(column.dtype, pd.CategoricalDtype):
        return np.asarray(column.cat.codes.to_numpy(), dtype=np.float64)
    return np.asarray(column.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def farmer_log_odds(frame: pd.DataFrame) -> FloatArray:
    """Ground-truth log-odds of default of farmers (formula: :func:`generate_farmers`)."""
    land = _values(frame, "land_area_ha")
    tenure = _values(frame, "land_tenure").astype(np.int64)
    crop = _values(frame, "main_crop").astype(np.int64)
    repay = _values(frame, "on_time_repayment_rate")
    rain = np.nan_to_num(_values(frame, "rainfall_anomaly_pct"), nan=0.0)
    z = FARMER_INTERCEPT + EFFECT_SCALE * (
        -0.30 * np.log1p(land)
        + np.asarray(_TENURE_EFFECT)[tenure]
        + np.asarray(_CROPS_EFFECT)[crop]
        - 0.40 * _values(frame, "irrigation")
        - 0.025 * np.minimum(_values(frame, "years_farming"), 25)
        - 0.30 * _values(frame, "coop_member")
        - 0.20 * np.log1p(np.nan_to_num(_values(frame, "off_farm_income_monthly")) / 50.0)
        + 0.35 * (_values(frame, "prior_loans") == 0)
        - 3.0 * np.nan_to_num(repay - 0.85, nan=0.0)
        - 0.15 * np.log1p(np.nan_to_num(_values(frame, "mobile_money_inflow_monthly")) / 100.0)
        - 0.20 * np.log1p(np.nan_to_num(_values(frame, "marketplace_orders_12m")))
        - 0.05 * np.log1p(np.nan_to_num(_values(frame, "marketplace_volume_12m")) / 1000.0)
        + 4.0 * np.nan_to_num(_values(frame, "marketplace_dispute_rate"), nan=0.0)
        + 1.5 * np.nan_to_num(_values(frame, "yield_variability_cv"), nan=0.35)
        + 0.02 * np.maximum(0.0, -rain)
        + 0.01 * np.maximum(0.0, rain - 25.0)
    )
    return np.asarray(z, dtype=np.float64)


def enterprise_log_odds(frame: pd.DataFrame) -> FloatArray:
    """Ground-truth log-odds of default of enterprises (formula: :func:`generate_enterprises`)."""
    etype = _values(frame, "enterprise_type").astype(np.int64)
    growth = _values(frame, "revenue_growth_pct")
    dpd = _values(frame, "max_days_past_due_24m")
    z = ENTERPRISE_INTERCEPT + EFFECT_SCALE * (
        -0.04 * np.minimum(_values(frame, "years_operating"), 20)
        + np.asarray(_ETYPES_EFFECT)[etype]
        - 0.25 * np.log(_values(frame, "annual_revenue") / 300_000.0)
        - 0.01 * np.nan_to_num(np.clip(growth, -50.0, 50.0), nan=0.0)
        - 0.06 * _values(frame, "net_margin_pct")
        - 0.60 * np.log(_values(frame, "current_ratio"))
        + 0.35 * np.log1p(_values(frame, "debt_to_equity"))
        - 0.05 * np.log1p(_values(frame, "supplier_farmers"))
        - 3.0 * np.nan_to_num(_values(frame, "on_time_delivery_rate") - 0.90, nan=0.0)
        - 0.05 * np.log1p(np.nan_to_num(_values(frame, "marketplace_volume_12m")) / 10_000.0)
        - 0.35 * _values(frame, "audited_accounts")
        + 0.012 * np.nan_to_num(_values(frame, "customer_concentration_pct"), nan=40.0)
        + np.where(np.isnan(dpd), 0.30, 0.50 * np.log1p(np.nan_to_num(dpd) / 10.0))
    )
    return np.asarray(z, dtype=np.float64)


TRUE_LOG_ODDS: dict[str, Callable[[pd.DataFrame], FloatArray]] = {
    "farmer": farmer_log_odds,
    "enterprise": enterprise_log_odds,
}

GENERATORS: dict[str, Callable[[int, int], pd.DataFrame]] = {
    "farmer": generate_farmers,
    "enterprise": generate_enterprises,
}

NO_TRUE_EFFECT: dict[str, tuple[str, ...]] = {
    "farmer": ("household_size", "distance_to_market_km"),
    "enterprise": ("employees",),
}


def generate(segment: str, n: int, seed: int = 0) -> pd.DataFrame:
    """Synthetic frame for ``segment`` (``farmer`` or ``enterprise``): features + ``default``."""
    try:
        generator = GENERATORS[segment]
    except KeyError:
        raise KeyError(f"no synthetic generator for segment {segment!r}") from None
    return generator(n, seed)
