"""``LoanTerms`` to and from plain JSON-able dicts (stored on products and loans, sent by the API).

Decimals travel as strings, enums as their values, so a stored product reads back to the
exact terms it was created with. ``terms_from_dict`` raises ``ValueError`` with a message
fit for a problem ``detail`` (the domain validates everything on construction).
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from services.loans.domain import (
    AllocationComponent,
    ChargeCalculation,
    ChargeTiming,
    Fee,
    LoanTerms,
    OverduePenalty,
    PenaltyFrequency,
)
from shared.crypto import canonical_json

_SCALARS = (
    "currency",
    "interest_method",
    "amortization",
    "interest_calculation_period",
    "days_in_year",
    "days_in_month",
    "repayment_frequency",
    "repay_every",
    "installment_multiple_of_minor",
    "grace_on_principal_periods",
    "grace_on_interest_payment_periods",
    "grace_on_interest_charged_periods",
    "principal_moratorium_every",
    "bullet",
    "rounding_mode",
    "arrears_tolerance_minor",
)


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, float):
        raise ValueError(f"{name} must be a decimal string, not a float")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{name} is not a decimal number: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"{name} must be finite")
    return result


def terms_to_dict(terms: LoanTerms) -> dict[str, Any]:
    """The JSON-able form of ``terms``."""
    out: dict[str, Any] = {}
    for name in _SCALARS:
        value = getattr(terms, name)
        out[name] = value.value if hasattr(value, "value") else value
    out["balloon_percent"] = None if terms.balloon_percent is None else str(terms.balloon_percent)
    out["fees"] = [
        {
            "name": f.name,
            "timing": f.timing.value,
            "calculation": f.calculation.value,
            "amount_minor": f.amount_minor,
            "percent": str(f.percent),
        }
        for f in terms.fees
    ]
    penalty = terms.overdue_penalty
    out["overdue_penalty"] = (
        None
        if penalty is None
        else {
            "calculation": penalty.calculation.value,
            "frequency": penalty.frequency.value,
            "amount_minor": penalty.amount_minor,
            "percent": str(penalty.percent),
        }
    )
    out["allocation_order"] = [c.value for c in terms.allocation_order]
    return out


def terms_from_dict(data: dict[str, Any]) -> LoanTerms:
    """Build validated ``LoanTerms`` from their dict form (missing fields take the defaults)."""
    kwargs: dict[str, Any] = {k: data[k] for k in _SCALARS if k in data and data[k] is not None}
    if data.get("balloon_percent") is not None:
        kwargs["balloon_percent"] = _decimal(data["balloon_percent"], "balloon_percent")
    try:
        kwargs["fees"] = tuple(
            Fee(
                name=str(f["name"]),
                timing=ChargeTiming(f["timing"]),
                calculation=ChargeCalculation(f["calculation"]),
                amount_minor=int(f.get("amount_minor") or 0),
                percent=_decimal(f.get("percent") or "0", "fees.percent"),
            )
            for f in data.get("fees") or ()
        )
        penalty = data.get("overdue_penalty")
        if penalty is not None:
            kwargs["overdue_penalty"] = OverduePenalty(
                calculation=ChargeCalculation(penalty["calculation"]),
                frequency=PenaltyFrequency(penalty.get("frequency") or "once"),
                amount_minor=int(penalty.get("amount_minor") or 0),
                percent=_decimal(penalty.get("percent") or "0", "overdue_penalty.percent"),
            )
        if data.get("allocation_order"):
            kwargs["allocation_order"] = tuple(AllocationComponent(c) for c in data["allocation_order"])
    except KeyError as exc:
        raise ValueError(f"missing field {exc.args[0]!r}") from None
    return LoanTerms(**kwargs)


def dump_terms(terms: LoanTerms) -> str:
    """Canonical JSON of ``terms`` for a Text column."""
    return canonical_json(terms_to_dict(terms))


def load_terms(text: str) -> LoanTerms:
    """Terms from their stored canonical JSON."""
    loaded: dict[str, Any] = json.loads(text)
    return terms_from_dict(loaded)
