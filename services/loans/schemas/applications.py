"""Request and response bodies of loan applications and their decisions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.loans.schemas.decision_policy import PolicyDecisionOut
from services.loans.schemas.terms import DecimalStr

DecisionHint = Literal["approve", "review", "decline"]
"""What the score suggests (scoring's ``decision_hint``); the review queue filters on it."""

FeatureSource = Literal["applicant", "marketplace", "default"]
"""Where a feature's value came from: the caller, escrow's trade summary, or nowhere (scoring's
missing value)."""

ListOrder = Literal["newest", "oldest"]
"""Order of a listing by submission time (the review queue works oldest first)."""


class ApplicationIn(BaseModel):
    """A loan application: the product, the borrower, the loan asked for and scoring features."""

    model_config = ConfigDict(extra="forbid")

    product_id: str = Field(min_length=1, max_length=36)
    borrower_id: str = Field(min_length=1, max_length=36)
    principal_minor: int = Field(gt=0, le=10**15)
    annual_interest_rate: DecimalStr = Field(ge=0, le=1000)
    number_of_repayments: int = Field(ge=1, le=600)
    disbursement_date: date
    first_repayment_date: date | None = None
    features: dict[str, Any] = Field(default_factory=dict)


class DecisionIn(BaseModel):
    """An optional note on an approval, rejection or withdrawal."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=2000)


class ReasonOut(BaseModel):
    """A score reason code."""

    code: str
    feature: str | None = None
    points: str | None = None
    text: str | None = None


class ScoreOut(BaseModel):
    """The score an application was decided on."""

    model_config = ConfigDict(protected_namespaces=())

    id: str
    score: str
    grade: str | None
    pd: str | None
    decision_hint: str | None
    model_version: str | None
    reasons: list[ReasonOut]
    scored_at: datetime | None
    challenger_disagreement: bool | None = None
    """A challenger scored in shadow gave another decision hint than the champion (scoring's word)."""


class DecisionOut(BaseModel):
    """Who decided an application, when, and why."""

    by: str
    at: datetime
    note: str | None


class AdverseReason(BaseModel):
    """A reason a declined applicant receives (from the score's reason codes)."""

    code: str
    text: str | None


class ApplicationOut(BaseModel):
    """A loan application with its score and decision."""

    id: str
    status: str
    product_id: str
    borrower_id: str
    currency: str
    principal_minor: int
    annual_interest_rate: str
    number_of_repayments: int
    disbursement_date: date
    first_repayment_date: date | None
    features: dict[str, Any]
    """What scoring gets: the caller's features with omitted marketplace ones filled."""
    feature_sources: dict[str, FeatureSource] | None
    """Where each feature's value came from (``applicant``, ``marketplace``, ``default``); once
    scored, every feature of the segment's spec. Null while the application waits for escrow's
    trade summary."""
    marketplace_as_of: datetime | None
    """The ``as_of`` of the trade summary that filled marketplace features (null: none did)."""
    submitted_by: str
    submitted_at: datetime
    score: ScoreOut | None
    score_attempts: int
    last_score_error: str | None
    decision: DecisionOut | None
    adverse_action_reasons: list[AdverseReason] | None
    loan_id: str | None
    policy_decision: PolicyDecisionOut | None
    """What the product's decision policy decided (None when the product had none when scored)."""
    allowed_actions: list[str]
    """What may be done to the application now (``POST /v1/applications/{id}/<action>``)."""
