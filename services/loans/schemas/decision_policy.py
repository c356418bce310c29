"""Bodies of a product's decision policy (a new version per change) and of a policy decision."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.loans.schemas.terms import MAX_MINOR, field_error

Score = Annotated[Decimal, Field(ge=0, le=10_000, allow_inf_nan=False)]


class DecisionPolicyIn(BaseModel):
    """The rules of a decision policy.

    Auto-approve when the score is at least ``auto_approve_min_score``, the principal at most
    ``auto_approve_max_principal_minor`` and every hard rule passes; auto-decline below
    ``auto_decline_below_score``; anything else waits for a person. ``max_days_past_due``: no
    loan of the borrower more than that many days past due; ``max_open_loans``: the borrower's
    open loans, this one included, at most that many; ``review_when_feature_defaulted``:
    review when a feature of the application was defaulted (its source is ``default``: omitted
    and not filled from the marketplace); ``review_on_challenger_disagreement``: review when
    scoring says a challenger scored in shadow gave another decision hint than the champion;
    ``auto_disburse``: an
    auto-approved loan is disbursed at once on its disbursement date if that is not after
    the business date.
    """

    model_config = ConfigDict(extra="forbid")

    auto_approve_min_score: Score
    auto_approve_max_principal_minor: int = Field(gt=0, le=MAX_MINOR)
    auto_decline_below_score: Score
    max_days_past_due: int | None = Field(default=None, ge=0, le=10_000)
    max_open_loans: int | None = Field(default=None, ge=1, le=1_000)
    review_when_feature_defaulted: bool = False
    review_on_challenger_disagreement: bool = False
    auto_disburse: bool = False

    @model_validator(mode="after")
    def _thresholds_are_ordered(self) -> DecisionPolicyIn:
        if self.auto_decline_below_score > self.auto_approve_min_score:
            raise field_error(
                "auto_decline_below_score",
                str(self.auto_decline_below_score),
                f"must not be above auto_approve_min_score ({self.auto_approve_min_score})",
            )
        return self


class DecisionPolicyOut(BaseModel):
    """One version of a product's decision policy."""

    product_id: str
    version: int
    rules: DecisionPolicyIn
    created_at: datetime
    created_by: str


class RuleResultOut(BaseModel):
    """One rule of the policy, whether it passed, its figures, and why in words.

    ``value`` is what the rule looked at (the score, the principal in minor units, the worst
    days past due, the open loans with this one, the number of defaulted features) and
    ``limit`` what it was compared with; null where the rule has no figure (a challenger's
    disagreement) or the decision predates them.
    """

    rule: str
    passed: bool
    value: float | int | None = None
    limit: float | int | None = None
    detail: str


class PolicyDecisionOut(BaseModel):
    """What the product's decision policy decided for an application."""

    version: int
    outcome: str
    """``approve``, ``decline`` or ``review`` (left for a person)."""
    rules: list[RuleResultOut]
