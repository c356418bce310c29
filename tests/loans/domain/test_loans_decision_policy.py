"""The decision policy: every rule's edge; a failing hard rule sends the application to a person."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.loans.domain.decision_policy import ApplicantFacts, PolicyOutcome, PolicyRules, decide

RULES = PolicyRules(
    auto_approve_min_score=Decimal(600),
    auto_approve_max_principal_minor=1_000_000,
    auto_decline_below_score=Decimal(520),
    max_days_past_due=30,
    max_open_loans=2,
)


def facts(**overrides: object) -> ApplicantFacts:
    values: dict[str, object] = {
        "score": Decimal(650),
        "principal_minor": 500_000,
        "open_loans": 0,
        "max_days_past_due": 0,
    }
    values.update(overrides)
    return ApplicantFacts(**values)  # type: ignore[arg-type]


def failed(rules: PolicyRules, applicant: ApplicantFacts) -> set[str]:
    return {r.rule for r in decide(rules, applicant).rules if not r.passed}


@pytest.mark.parametrize(
    ("score", "outcome"),
    [
        ("600", PolicyOutcome.APPROVE),
        ("599.99", PolicyOutcome.REVIEW),
        ("599", PolicyOutcome.REVIEW),
        ("520", PolicyOutcome.REVIEW),
        ("519.99", PolicyOutcome.DECLINE),
        ("0", PolicyOutcome.DECLINE),
    ],
)
def test_the_score_thresholds(score: str, outcome: PolicyOutcome) -> None:
    assert decide(RULES, facts(score=Decimal(score))).outcome is outcome


def test_every_rule_is_reported_when_all_pass() -> None:
    decision = decide(RULES, facts())
    assert decision.outcome is PolicyOutcome.APPROVE
    assert [r.rule for r in decision.rules] == [
        "auto_decline_below_score",
        "auto_approve_min_score",
        "auto_approve_max_principal_minor",
        "max_days_past_due",
        "max_open_loans",
    ]
    assert all(r.passed and r.detail for r in decision.rules)


def test_the_amount_ceiling() -> None:
    assert decide(RULES, facts(principal_minor=1_000_000)).outcome is PolicyOutcome.APPROVE
    over = facts(principal_minor=1_000_001)
    assert decide(RULES, over).outcome is PolicyOutcome.REVIEW
    assert failed(RULES, over) == {"auto_approve_max_principal_minor"}


def test_arrears_over_the_limit_go_to_review_not_decline() -> None:
    assert decide(RULES, facts(max_days_past_due=30)).outcome is PolicyOutcome.APPROVE
    late = facts(max_days_past_due=31)
    assert decide(RULES, late).outcome is PolicyOutcome.REVIEW
    assert failed(RULES, late) == {"max_days_past_due"}


def test_open_loans_count_this_one_against_the_limit() -> None:
    assert decide(RULES, facts(open_loans=1)).outcome is PolicyOutcome.APPROVE
    full = facts(open_loans=2)
    assert decide(RULES, full).outcome is PolicyOutcome.REVIEW
    assert failed(RULES, full) == {"max_open_loans"}


def test_unset_hard_rules_are_not_applied() -> None:
    rules = PolicyRules(
        auto_approve_min_score=Decimal(600),
        auto_approve_max_principal_minor=1_000_000,
        auto_decline_below_score=Decimal(520),
    )
    decision = decide(rules, facts(open_loans=50, max_days_past_due=400))
    assert decision.outcome is PolicyOutcome.APPROVE
    assert {r.rule for r in decision.rules} == {
        "auto_decline_below_score",
        "auto_approve_min_score",
        "auto_approve_max_principal_minor",
    }


def test_a_defaulted_feature_goes_to_review_only_when_the_policy_says_so() -> None:
    defaulted = facts(defaulted_features=("years_farming",))
    assert decide(RULES, defaulted).outcome is PolicyOutcome.APPROVE
    strict = PolicyRules(**{**RULES.__dict__, "review_when_feature_defaulted": True})
    assert decide(strict, facts()).outcome is PolicyOutcome.APPROVE
    decision = decide(strict, defaulted)
    assert decision.outcome is PolicyOutcome.REVIEW
    assert [r.detail for r in decision.rules if not r.passed] == ["features defaulted: years_farming"]


def test_a_score_below_decline_declines_even_when_hard_rules_fail() -> None:
    applicant = facts(score=Decimal(400), open_loans=5, principal_minor=9_000_000)
    decision = decide(RULES, applicant)
    assert decision.outcome is PolicyOutcome.DECLINE
    assert "auto_decline_below_score" in failed(RULES, applicant)


def test_a_challenger_disagreeing_goes_to_review_only_when_the_policy_says_so() -> None:
    disputed = facts(challenger_disagreement=True)
    assert decide(RULES, disputed).outcome is PolicyOutcome.APPROVE
    strict = PolicyRules(**{**RULES.__dict__, "review_on_challenger_disagreement": True})
    agreed = decide(strict, facts())
    assert agreed.outcome is PolicyOutcome.APPROVE
    assert agreed.rules[-1].rule == "review_on_challenger_disagreement" and agreed.rules[-1].passed
    decision = decide(strict, disputed)
    assert decision.outcome is PolicyOutcome.REVIEW
    assert failed(strict, disputed) == {"review_on_challenger_disagreement"}
    (rule,) = [r for r in decision.rules if not r.passed]
    assert (rule.value, rule.limit) == (None, None)
    assert rule.detail == "a challenger model gave another decision hint than the champion"
    # a challenger's disagreement never declines: that is the score's alone
    low = facts(score=Decimal(500), challenger_disagreement=True)
    assert decide(strict, low).outcome is PolicyOutcome.DECLINE


def test_every_rule_states_its_value_and_limit() -> None:
    rules = PolicyRules(
        **{**RULES.__dict__, "review_when_feature_defaulted": True, "review_on_challenger_disagreement": True}
    )
    applicant = facts(
        score=Decimal("612.5"),
        principal_minor=750_000,
        open_loans=1,
        max_days_past_due=12,
        defaulted_features=("marketplace_dispute_rate", "yield_variability_cv"),
    )
    figures = {r.rule: (r.passed, r.value, r.limit) for r in decide(rules, applicant).rules}
    assert figures == {
        "auto_decline_below_score": (True, Decimal("612.5"), Decimal(520)),
        "auto_approve_min_score": (True, Decimal("612.5"), Decimal(600)),
        "auto_approve_max_principal_minor": (True, 750_000, 1_000_000),
        "max_days_past_due": (True, 12, 30),
        "max_open_loans": (True, 2, 2),  # the open loans with this one
        "review_when_feature_defaulted": (False, 2, 0),
        "review_on_challenger_disagreement": (True, None, None),
    }
    full = {r.rule: (r.passed, r.value) for r in decide(rules, facts(open_loans=2)).rules}
    assert full["max_open_loans"] == (False, 3)
