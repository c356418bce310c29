"""Use cases of a product's decision policy: a new version per change, the current one, the history,
and what the current one decides for a scored application.

A product without a policy decides nothing: every scored application waits for a person.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class AppliedPolicy:
    """The policy version that decides an application: its product, version and rules."""

    product_id: str
    version: int
    rules: PolicyRules


def policy_actor(policy: DecisionPolicy | AppliedPolicy) -> str:
    """Who decided when a policy did: ``policy:<product id>:v<version>``."""
    return f"policy:{policy.product_id}:v{policy.version}"


def rules_of(policy: DecisionPolicy) -> DecisionPolicyIn:
    """The stored rules of a policy version."""
    return DecisionPolicyIn.model_validate_json(policy.rules)


@functools.lru_cache(maxsize=256)
def policy_rules(text: str) -> PolicyRules:
    """The domain's rules from a policy version's stored JSON (cached by the text itself, so it
    is never stale: a version's rules never change, and ``PolicyRules`` is frozen)."""
    rules = DecisionPolicyIn.model_validate_json(text)
    return PolicyRules(
        auto_approve_min_score=rules.auto_approve_min_score,
        auto_approve_max_principal_minor=rules.auto_approve_max_principal_minor,
        auto_decline_below_score=rules.auto_decline_below_score,
        max_days_past_due=rules.max_days_past_due,
        max_open_loans=rules.max_open_loans,
        review_when_feature_defaulted=rules.review_when_feature_defaulted,
        review_on_challenger_disagreement=rules.review_on_challenger_disagreement,
        auto_disburse=rules.auto_disburse,
    )


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


def evaluate(
    session: Session, application: Application, *, feature_sources: Mapping[str, str] | None = None
) -> tuple[AppliedPolicy, PolicyDecision] | None:
    """What the product's current policy decides for a scored application; None without a policy.

    The outcome, version and rule results are stored on the application. ``feature_sources``:
    the application's, when the caller has them parsed already.
    """
    if application.score is None:
        return None
    repo.lock_borrower(session, application.borrower_id)  # before the facts are read
    current = repo.policy_and_facts(session, application.product_id, application.borrower_id)
    if current.version is None or current.rules is None:
        return None
    policy = AppliedPolicy(application.product_id, current.version, policy_rules(current.rules))
    if feature_sources is None:
        feature_sources = json.loads(application.feature_sources or "{}")
    decision = decide(
        policy.rules,
        ApplicantFacts(
            score=Decimal(application.score),
            principal_minor=application.principal_minor,
            open_loans=current.open_loans,
            max_days_past_due=current.worst_days_past_due,
            defaulted_features=defaulted_features(feature_sources),
            challenger_disagreement=bool(application.challenger_disagreement),
        ),
    )
    application.policy_version = policy.version
    application.policy_outcome = decision.outcome.value
    application.policy_rules = json.dumps(rule_records(decision))
    return policy, decision
