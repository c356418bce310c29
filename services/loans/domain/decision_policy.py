"""A product's decision policy applied to a scored application: approve, decline or review.

Issue #11 §2: auto-approve when the score is at least ``auto_approve_min_score``, the amount
is at most ``auto_approve_max_principal_minor`` and every hard rule passes; auto-decline
below ``auto_decline_below_score``; manual review otherwise. A failing hard rule (arrears
over ``max_days_past_due``, ``max_open_loans`` reached, a defaulted feature when
``review_when_feature_defaulted``, a challenger disagreeing with the champion when
``review_on_challenger_disagreement``) sends the application to a person, it never declines
it: decline is the score's alone. Every rule's result is returned, passed or not, with its
figures (``value`` against ``limit``) beside the words.

Defaulted features are those the application records as ``default`` (omitted and not filled
from the marketplace: the model's missing value); a challenger disagrees when scoring says
one of the challengers it scored in shadow gave another decision hint than the champion.
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
    review_on_challenger_disagreement: bool = False
    auto_disburse: bool = False


@dataclass(frozen=True)
class ApplicantFacts:
    """What a policy looks at: the score, the amount and the borrower's other loans."""

    score: Decimal
    principal_minor: int
    open_loans: int
    max_days_past_due: int
    defaulted_features: Sequence[str] = ()
    """Features scored with the model's missing value (the application's ``default`` sources)."""
    challenger_disagreement: bool = False
    """Scoring said a challenger scored in shadow gave another decision hint than the champion."""


Figure = int | Decimal
"""A rule's figure: a score (``Decimal``), an amount in minor units or a count (``int``)."""


@dataclass(frozen=True)
class RuleResult:
    """One rule, whether it passed, its figures and why in plain words.

    ``value`` is what the rule looked at and ``limit`` what it compared it with (None where a
    rule has no such figure), so that a reader can show them in its own words and units.
    """

    rule: str
    passed: bool
    value: Figure | None
    limit: Figure | None
    detail: str


@dataclass(frozen=True)
class PolicyDecision:
    """The outcome and every rule's result."""

    outcome: PolicyOutcome
    rules: tuple[RuleResult, ...]


def _score_rules(rules: PolicyRules, facts: ApplicantFacts) -> list[RuleResult]:
    declined = facts.score < rules.auto_decline_below_score
    score_ok = facts.score >= rules.auto_approve_min_score
    amount_ok = facts.principal_minor <= rules.auto_approve_max_principal_minor
    return [
        RuleResult(
            "auto_decline_below_score",
            not declined,
            facts.score,
            rules.auto_decline_below_score,
            f"score {facts.score} is {'below' if declined else 'at or above'} "
            f"the decline threshold {rules.auto_decline_below_score}",
        ),
        RuleResult(
            "auto_approve_min_score",
            score_ok,
            facts.score,
            rules.auto_approve_min_score,
            f"score {facts.score} is {'at or above' if score_ok else 'below'} "
            f"the approval threshold {rules.auto_approve_min_score}",
        ),
        RuleResult(
            "auto_approve_max_principal_minor",
            amount_ok,
            facts.principal_minor,
            rules.auto_approve_max_principal_minor,
            f"amount {facts.principal_minor} is {'within' if amount_ok else 'over'} "
            f"the ceiling {rules.auto_approve_max_principal_minor}",
        ),
    ]


def _hard_rules(rules: PolicyRules, facts: ApplicantFacts) -> list[RuleResult]:
    results: list[RuleResult] = []
    if rules.max_days_past_due is not None:
        ok = facts.max_days_past_due <= rules.max_days_past_due
        results.append(
            RuleResult(
                "max_days_past_due",
                ok,
                facts.max_days_past_due,
                rules.max_days_past_due,
                f"the borrower's loans are at most {facts.max_days_past_due} days past due "
                f"(limit {rules.max_days_past_due})",
            )
        )
    if rules.max_open_loans is not None:
        with_this = facts.open_loans + 1
        ok = with_this <= rules.max_open_loans
        results.append(
            RuleResult(
                "max_open_loans",
                ok,
                with_this,
                rules.max_open_loans,
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
                len(defaulted),
                0,
                "features defaulted: " + ", ".join(defaulted) if defaulted else "no feature was defaulted",
            )
        )
    if rules.review_on_challenger_disagreement:
        results.append(
            RuleResult(
                "review_on_challenger_disagreement",
                not facts.challenger_disagreement,
                None,
                None,
                "a challenger model gave another decision hint than the champion"
                if facts.challenger_disagreement
                else "no challenger model disagreed with the champion",
            )
        )
    return results


def decide(rules: PolicyRules, facts: ApplicantFacts) -> PolicyDecision:
    """Apply ``rules`` to ``facts``."""
    results = _score_rules(rules, facts) + _hard_rules(rules, facts)
    if facts.score < rules.auto_decline_below_score:
        outcome = PolicyOutcome.DECLINE
    elif all(r.passed for r in results):
        outcome = PolicyOutcome.APPROVE
    else:
        outcome = PolicyOutcome.REVIEW
    return PolicyDecision(outcome, tuple(results))
