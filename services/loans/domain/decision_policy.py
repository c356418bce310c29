"""A product's decision policy applied to a scored application: approve, decline or review.

Issue #11 §2: auto-approve when the score is at least ``auto_approve_min_score``, the amount
is at most ``auto_approve_max_principal_minor`` and every hard rule passes; auto-decline
below ``auto_decline_below_score``; manual review otherwise. A failing hard rule (arrears
over ``max_days_past_due``, ``max_open_loans`` reached, a defaulted feature when
``review_when_feature_defaulted``) sends the application to a person, it never declines
it: decline is the score's alone. Every rule's result is returned, passed or not.

``review_when_feature_defaulted`` applies when the application records a feature whose
value was defaulted (scoring's answer does not report defaulted features today): the
caller passes the names of such features, none when nothing records them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class PolicyOutcome(StrEnum):
    """What a policy decides for a scored application."""

    APPROVE = "approve"
    DECLINE = "decline"
    REVIEW = "review"


@dataclass(frozen=True)
class PolicyRules:
    """The rules of one version of a product's decision policy."""

    auto_approve_min_score: Decimal
    auto_approve_max_principal_minor: int
    auto_decline_below_score: Decimal
    max_days_past_due: int | None = None
    max_open_loans: int | None = None
    review_when_feature_defaulted: bool = False
    auto_disburse: bool = False


@dataclass(frozen=True)
class ApplicantFacts:
    """What a policy looks at: the score, the amount and the borrower's other loans."""

    score: Decimal
    principal_minor: int
    open_loans: int
    max_days_past_due: int
    defaulted_features: Sequence[str] = ()


@dataclass(frozen=True)
class RuleResult:
    """One rule, whether it passed, and why in plain words."""

    rule: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class PolicyDecision:
    """The outcome and every rule's result."""

    outcome: PolicyOutcome
    rules: tuple[RuleResult, ...]


def decide(rules: PolicyRules, facts: ApplicantFacts) -> PolicyDecision:
    """Apply ``rules`` to ``facts``."""
    results: list[RuleResult] = []
    declined = facts.score < rules.auto_decline_below_score
    results.append(
        RuleResult(
            "auto_decline_below_score",
            not declined,
            f"score {facts.score} is {'below' if declined else 'at or above'} "
            f"the decline threshold {rules.auto_decline_below_score}",
        )
    )
    score_ok = facts.score >= rules.auto_approve_min_score
    results.append(
        RuleResult(
            "auto_approve_min_score",
            score_ok,
            f"score {facts.score} is {'at or above' if score_ok else 'below'} "
            f"the approval threshold {rules.auto_approve_min_score}",
        )
    )
    amount_ok = facts.principal_minor <= rules.auto_approve_max_principal_minor
    results.append(
        RuleResult(
            "auto_approve_max_principal_minor",
            amount_ok,
            f"amount {facts.principal_minor} is {'within' if amount_ok else 'over'} "
            f"the ceiling {rules.auto_approve_max_principal_minor}",
        )
    )
    if rules.max_days_past_due is not None:
        ok = facts.max_days_past_due <= rules.max_days_past_due
        results.append(
            RuleResult(
                "max_days_past_due",
                ok,
                f"the borrower's loans are at most {facts.max_days_past_due} days past due "
                f"(limit {rules.max_days_past_due})",
            )
        )
    if rules.max_open_loans is not None:
        ok = facts.open_loans < rules.max_open_loans
        results.append(
            RuleResult(
                "max_open_loans",
                ok,
                f"the borrower has {facts.open_loans} open loans; with this one the limit "
                f"of {rules.max_open_loans} is {'kept' if ok else 'exceeded'}",
            )
        )
    if rules.review_when_feature_defaulted:
        defaulted = sorted(facts.defaulted_features)
        results.append(
            RuleResult(
                "review_when_feature_defaulted",
                not defaulted,
                "features defaulted: " + ", ".join(defaulted) if defaulted else "no feature was defaulted",
            )
        )
    if declined:
        outcome = PolicyOutcome.DECLINE
    elif all(r.passed for r in results):
        outcome = PolicyOutcome.APPROVE
    else:
        outcome = PolicyOutcome.REVIEW
    return PolicyDecision(outcome, tuple(results))
