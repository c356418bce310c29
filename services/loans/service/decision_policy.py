"""Use cases of a product's decision policy: a new version per change, the current one, the history,
and what the current one decides for a scored application.

A product without a policy decides nothing: every scored application waits for a person.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from services.loans.domain.decision_policy import (
    ApplicantFacts,
    Figure,
    PolicyDecision,
    PolicyRules,
    decide,
)
from services.loans.domain.marketplace_features import defaulted_features
from services.loans.models import Application, DecisionPolicy
from services.loans.repository import add
from services.loans.repository import decision_policies as repo
from services.loans.repository import products as products_repo
from services.loans.schemas.decision_policy import DecisionPolicyIn
from services.loans.settings import LoansContext
from shared.auth import Principal
from shared.changes import record_change
from shared.errors import NotFound


def policy_actor(policy: DecisionPolicy) -> str:
    """Who decided when a policy did: ``policy:<product id>:v<version>``."""
    return f"policy:{policy.product_id}:v{policy.version}"


def rules_of(policy: DecisionPolicy) -> DecisionPolicyIn:
    """The stored rules of a policy version."""
    return DecisionPolicyIn.model_validate_json(policy.rules)


def _figure(value: Figure | None) -> int | float | None:
    """A rule's figure as JSON carries it: counts and minor units stay ints; a score (a
    ``Decimal`` read from scoring's JSON number) goes back to a number."""
    return float(value) if isinstance(value, Decimal) else value


def rule_records(decision: PolicyDecision) -> list[dict[str, Any]]:
    """Every rule's result as stored on the application and audited."""
    return [
        {
            "rule": r.rule,
            "passed": r.passed,
            "value": _figure(r.value),
            "limit": _figure(r.limit),
            "detail": r.detail,
        }
        for r in decision.rules
    ]


def _require_product(session: Session, product_id: str) -> None:
    if products_repo.get_product(session, product_id) is None:
        raise NotFound(f"product {product_id} not found")


def set_policy(
    session: Session, ctx: LoansContext, *, who: Principal, product_id: str, body: DecisionPolicyIn
) -> DecisionPolicy:
    """Store ``body`` as the product's next policy version, audited."""
    if repo.lock_product(session, product_id) is None:
        raise NotFound(f"product {product_id} not found")
    latest = repo.current_policy(session, product_id)
    policy = DecisionPolicy(
        product_id=product_id,
        version=1 if latest is None else latest.version + 1,
        rules=body.model_dump_json(),
        created_at=ctx.clock.now(),
        created_by=who.actor,
    )
    add(session, policy)
    record_change(
        session,
        ctx,
        actor=who.actor,
        action="loan.decision_policy_set",
        subject=f"product:{product_id}",
        payload={"product_id": product_id, "version": policy.version, "rules": body.model_dump(mode="json")},
    )
    return policy


def current_policy(session: Session, product_id: str) -> DecisionPolicy:
    """The product's current policy or 404 (also when the product has none)."""
    _require_product(session, product_id)
    policy = repo.current_policy(session, product_id)
    if policy is None:
        raise NotFound(f"product {product_id} has no decision policy; every application waits for a person")
    return policy


def policy_history(session: Session, product_id: str) -> Sequence[DecisionPolicy]:
    """Every version of the product's policy, newest first (empty when it has none)."""
    _require_product(session, product_id)
    return repo.policy_history(session, product_id)


def evaluate(session: Session, application: Application) -> tuple[DecisionPolicy, PolicyDecision] | None:
    """What the product's current policy decides for a scored application; None without a policy.

    The outcome, version and rule results are stored on the application.
    """
    policy = repo.current_policy(session, application.product_id)
    if policy is None or application.score is None:
        return None
    rules = rules_of(policy)
    repo.lock_borrower(session, application.borrower_id)
    open_loans, worst_dpd = repo.borrower_loan_facts(session, application.borrower_id)
    decision = decide(
        PolicyRules(
            auto_approve_min_score=rules.auto_approve_min_score,
            auto_approve_max_principal_minor=rules.auto_approve_max_principal_minor,
            auto_decline_below_score=rules.auto_decline_below_score,
            max_days_past_due=rules.max_days_past_due,
            max_open_loans=rules.max_open_loans,
            review_when_feature_defaulted=rules.review_when_feature_defaulted,
            review_on_challenger_disagreement=rules.review_on_challenger_disagreement,
            auto_disburse=rules.auto_disburse,
        ),
        ApplicantFacts(
            score=Decimal(application.score),
            principal_minor=application.principal_minor,
            open_loans=open_loans,
            max_days_past_due=worst_dpd,
            defaulted_features=defaulted_features(json.loads(application.feature_sources or "{}")),
            challenger_disagreement=bool(application.challenger_disagreement),
        ),
    )
    application.policy_version = policy.version
    application.policy_outcome = decision.outcome.value
    application.policy_rules = json.dumps(rule_records(decision))
    return policy, decision
