"""Factories for the loans API tests: request bodies and realistic scoring answers."""

from __future__ import annotations

import uuid
from typing import Any

import factory


class ProductPayloadFactory(factory.DictFactory):
    """A KES monthly declining-balance product, maker-checker on."""

    name = factory.Sequence(lambda n: f"maize-input-{n}")
    currency = "KES"
    min_principal_minor = 100_000
    max_principal_minor = 50_000_000
    min_repayments = 1
    max_repayments = 24
    maker_checker = True
    allow_sale_proceeds = False
    sale_proceeds_share_bps = factory.LazyAttribute(lambda o: 5_000 if o.allow_sale_proceeds else None)


class BorrowerPayloadFactory(factory.DictFactory):
    """A smallholder farmer with personal data."""

    type = "farmer"
    name = factory.Sequence(lambda n: f"Wanjiru Kamau {n}")
    national_id = factory.Sequence(lambda n: f"KE-{20_000_000 + n}")
    phone = factory.Sequence(lambda n: f"+2547{n:08d}")
    region = "Nakuru"


FARMER_FEATURES: dict[str, Any] = {
    "land_area_ha": "2.5",
    "land_tenure": "owned",
    "main_crop": "maize",
    "irrigation": True,
    "years_farming": 12,
    "household_size": 5,
    "coop_member": True,
}


class ApplicationPayloadFactory(factory.DictFactory):
    """An application body (product_id and borrower_id must be given)."""

    principal_minor = 1_200_000
    annual_interest_rate = "18"
    number_of_repayments = 6
    disbursement_date = "2026-01-15"
    features = factory.LazyFunction(lambda: dict(FARMER_FEATURES))


class ReasonFactory(factory.DictFactory):
    """A score reason code."""

    code = "F05"
    feature = "years_farming"
    points = -21.4
    text = "Limited farming experience"


class ScorePayloadFactory(factory.DictFactory):
    """Scoring's 201 answer to ``POST /v1/scores`` (floats as scoring sends them)."""

    id = factory.LazyFunction(lambda: str(uuid.uuid4()))
    segment = "farmer"
    subject_id = "borrower"
    model_version = "farmer-1.0.0-20260101"
    score = 642.17
    base_points = 600.0
    pd = 0.0381
    grade = "B"
    decision_hint = "approve"
    contributions = factory.LazyFunction(lambda: [{"feature": "years_farming", "value": 12, "points": 18.2}])
    reasons = factory.LazyFunction(
        lambda: [
            ReasonFactory(),
            ReasonFactory(code="F01", feature="land_area_ha", points=-9.5, text="Small cultivated land area"),
        ]
    )
    receipt = factory.LazyFunction(
        lambda: {"alg": "Ed25519", "key_id": "sig-test", "payload": "{}", "signature": "x"}
    )
