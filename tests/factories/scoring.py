"""Factories for the scoring service: applicants, score requests and registry rows.

Applicant factories draw every feature over (most of) its spec range, with missing values
where the spec allows them, from factory-boy's seedable generator
(``factory.random.reseed_random``), so a test that reseeds gets the same applicants.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import factory
import pandas as pd
from factory import fuzzy
from factory.alchemy import SQLAlchemyModelFactory
from factory.random import randgen

from services.scoring.models import STATUS_CHALLENGER, ModelVersion
from services.scoring.repository.specs import load_segment_spec

MISSING_RATE = 0.15

_FARMER = load_segment_spec("farmer")
_ENTERPRISE = load_segment_spec("enterprise")


def _uniform(lo: float, hi: float, digits: int = 3) -> factory.LazyFunction:
    return factory.LazyFunction(lambda: round(randgen.uniform(lo, hi), digits))


def _log_uniform(hi: float) -> factory.LazyFunction:
    """Wide money-like ranges: uniform in log(1 + x)."""
    return factory.LazyFunction(lambda: round(math.expm1(randgen.uniform(0.0, math.log1p(hi))), 2))


def _maybe_missing(declaration: factory.LazyFunction) -> factory.LazyFunction:
    draw: Callable[[], Any] = declaration.function
    return factory.LazyFunction(lambda: None if randgen.random() < MISSING_RATE else draw())


class FarmerFeaturesFactory(factory.DictFactory):
    """A farmer applicant's features (``services/scoring/specs/farmer.yaml``)."""

    land_area_ha = _log_uniform(200.0)
    land_tenure = fuzzy.FuzzyChoice(_FARMER.feature("land_tenure").categories)
    main_crop = fuzzy.FuzzyChoice(_FARMER.feature("main_crop").categories)
    irrigation = fuzzy.FuzzyChoice([True, False])
    years_farming = fuzzy.FuzzyInteger(0, 60)
    household_size = fuzzy.FuzzyInteger(1, 20)
    coop_member = fuzzy.FuzzyChoice([True, False])
    off_farm_income_monthly = _maybe_missing(_log_uniform(5_000.0))
    prior_loans = fuzzy.FuzzyInteger(0, 12)
    on_time_repayment_rate = _maybe_missing(_uniform(0.0, 1.0))
    mobile_money_inflow_monthly = _maybe_missing(_log_uniform(20_000.0))
    marketplace_orders_12m = fuzzy.FuzzyInteger(0, 400)
    marketplace_volume_12m = _log_uniform(200_000.0)
    marketplace_dispute_rate = _maybe_missing(_uniform(0.0, 0.5, 4))
    yield_variability_cv = _maybe_missing(_uniform(0.0, 2.0))
    distance_to_market_km = _uniform(0.1, 300.0, 1)
    rainfall_anomaly_pct = _maybe_missing(_uniform(-80.0, 150.0, 1))


class EnterpriseFeaturesFactory(factory.DictFactory):
    """An agricultural enterprise's features (``services/scoring/specs/enterprise.yaml``)."""

    years_operating = fuzzy.FuzzyInteger(0, 80)
    enterprise_type = fuzzy.FuzzyChoice(_ENTERPRISE.feature("enterprise_type").categories)
    annual_revenue = _log_uniform(1e9)
    revenue_growth_pct = _maybe_missing(_uniform(-80.0, 300.0, 1))
    net_margin_pct = _uniform(-40.0, 40.0, 2)
    current_ratio = _uniform(0.05, 8.0)
    debt_to_equity = _uniform(0.0, 12.0)
    supplier_farmers = fuzzy.FuzzyInteger(0, 5_000)
    on_time_delivery_rate = _maybe_missing(_uniform(0.0, 1.0))
    marketplace_volume_12m = _log_uniform(1e8)
    audited_accounts = fuzzy.FuzzyChoice([True, False])
    customer_concentration_pct = _maybe_missing(_uniform(0.0, 100.0, 1))
    max_days_past_due_24m = _maybe_missing(factory.LazyFunction(lambda: randgen.randint(0, 400)))
    employees = fuzzy.FuzzyInteger(0, 2_000)


FEATURE_FACTORIES: dict[str, type[factory.DictFactory]] = {
    "farmer": FarmerFeaturesFactory,
    "enterprise": EnterpriseFeaturesFactory,
}


class ScoreRequestFactory(factory.DictFactory):
    """A ``POST /v1/scores`` body for a farmer (pass ``segment`` and ``features`` for others)."""

    segment = "farmer"
    subject_id = factory.Sequence(lambda n: f"subject-{n:05d}")
    features = factory.SubFactory(FarmerFeaturesFactory)


class ModelVersionFactory(SQLAlchemyModelFactory):
    """A registry row (no artifact behind it): for tests of the registry's constraints."""

    class Meta:
        model = ModelVersion

    segment = "farmer"
    sequence = factory.Sequence(lambda n: 100 + n)
    version = factory.LazyAttribute(lambda o: f"{o.segment}-v{o.sequence}")
    status = STATUS_CHALLENGER
    artifact_sha256 = factory.LazyAttribute(lambda o: f"{o.sequence:064x}")
    spec = "{}"
    parameters = "{}"
    library_versions = "{}"
    data_fingerprint = "0" * 64
    data_source = "factory"
    metrics = "{}"
    created_at = factory.LazyFunction(lambda: datetime(2026, 3, 1, tzinfo=UTC))
    created_by = "test"


def frame_to_requests(frame: pd.DataFrame, segment: str, *, prefix: str = "row") -> list[dict[str, Any]]:
    """Rows of a synthetic frame as ``POST /v1/scores`` bodies (NaN → null, numpy → JSON)."""
    spec = load_segment_spec(segment)
    bodies = []
    for i, record in enumerate(frame[spec.feature_names].astype(object).to_dict(orient="records")):
        features: dict[str, Any] = {}
        for name, value in record.items():
            if value is None or (isinstance(value, float) and math.isnan(value)):
                features[str(name)] = None
            elif hasattr(value, "item"):
                features[str(name)] = value.item()
            else:
                features[str(name)] = value
        bodies.append({"segment": segment, "subject_id": f"{prefix}-{i}", "features": features})
    return bodies
