"""Borrowers, the product and its policy, and applications decided by the policy or a person.

Borrowers are found by national id and the product by its name before anything is created;
the policy gets a new version only when the current one differs from the demo's. An
application's Idempotency-Key names the season and the farmer, so a repeated request within
a season answers the same application; its state is read back before anything is done to it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from services.demo.cast import (
    ANNUAL_RATE,
    CURRENCY,
    POLICY,
    PRODUCT,
    PRODUCT_NAME,
    REPAYMENTS,
    Member,
)
from services.demo.clients import System
from services.demo.progress import DemoStopped, Progress, money
from shared.clients.loans import Application, Borrower, Loan, PolicyRuleResult, Product


def ensure_borrower(system: System, member: Member) -> tuple[Borrower, bool]:
    """The member's borrower (registered now when new) and whether it was there already."""
    loans = system.officer.loans
    found = loans.borrowers(national_id=member.national_id, limit=1)
    if found:
        return found[0], True
    borrower = loans.create_borrower(
        type="enterprise" if member.type == "enterprise" else "farmer",
        name=member.name,
        national_id=member.national_id,
        phone=member.phone,
        region=member.region,
        marketplace_party_id=member.party_id,
        idempotency_key=f"demo:borrower:{member.national_id}",
    )
    return borrower, False


def _same_rules(current: dict[str, Any]) -> bool:
    for name, wanted in POLICY.items():
        have = current.get(name)
        if isinstance(wanted, str):
            if have is None or Decimal(str(have)) != Decimal(wanted):
                return False
        elif have != wanted:
            return False
    return True


def ensure_product(system: System) -> tuple[Product, int]:
    """The demo's product (created when missing) and the version of its decision policy."""
    admin = system.admin.loans
    product = next((p for p in admin.products() if p.name == PRODUCT_NAME), None)
    if product is None:
        product = admin.create_product(PRODUCT, idempotency_key="demo:product:v1")
    if not product.allow_sale_proceeds or product.currency != CURRENCY:
        raise DemoStopped(
            f"a product named {PRODUCT_NAME!r} exists but does not take {CURRENCY} sale proceeds"
        )
    current = admin.decision_policy(product.id)
    if current is not None and _same_rules(current.rules):
        return product, current.version
    after = current.version if current is not None else 0
    policy = admin.set_decision_policy(
        product.id, POLICY, idempotency_key=f"demo:policy:{product.id}:v{after}"
    )
    return product, policy.version


def submit(
    system: System,
    progress: Progress,
    *,
    member: Member,
    borrower: Borrower,
    product: Product,
    season: str,
    start: dt.date,
    wait: float,
) -> Application:
    """The member's application of this season, scored (the loan officer submits it)."""
    loans = system.officer.loans
    submitted = loans.submit_application(
        product_id=product.id,
        borrower_id=borrower.id,
        principal_minor=member.loan_minor,
        annual_interest_rate=ANNUAL_RATE,
        number_of_repayments=REPAYMENTS,
        disbursement_date=start,
        features=member.features,
        idempotency_key=f"demo:{season}:apply:{member.national_id}",
    )

    def scored() -> Application | None:
        application = loans.application(submitted.id)
        return application if application.status != "pending_score" else None

    return progress.wait_for(f"{member.name}'s score", scored, timeout=wait)


def describe_score(progress: Progress, application: Application) -> None:
    """Score, grade, PD, where the marketplace features came from, and the reasons in words."""
    score = application.score
    if score is None:
        raise DemoStopped(f"application {application.id} is {application.status} without a score")
    pd = f", probability of default {float(score.pd) * 100:.1f}%" if score.pd is not None else ""
    progress.line(f"score {float(score.score):.0f}, grade {score.grade or '-'}{pd}", indent=2)
    sources = application.feature_sources or {}
    filled = sorted(name for name, source in sources.items() if source == "marketplace")
    if filled:
        features = application.features
        shown = ", ".join(f"{name}={features.get(name)}" for name in filled)
        progress.line(f"from the marketplace (escrow's trade summary): {shown}", indent=2)
    for reason in score.reasons:
        progress.line(f"- {reason.text or reason.code}", indent=2)


def who(actor: str) -> str:
    """An audit actor in words: ``person:officer:loan_officer:via:…`` is officer (loan_officer)."""
    parts = actor.split(":")
    if parts[0] == "person" and len(parts) >= 3:
        return f"{parts[1]} ({parts[2]})"
    if parts[0] == "policy" and len(parts) >= 3:
        return f"the product's decision policy {parts[-1]}"
    return actor


def _failed_rule(rule: PolicyRuleResult, currency: str) -> str:
    """A rule that sent the application to a person, in words (loans' own text otherwise)."""
    if rule.value is None or rule.limit is None:
        return rule.detail
    if rule.rule == "auto_approve_min_score":
        return f"score {rule.value:.0f} is below the approval threshold {rule.limit:.0f}"
    if rule.rule == "auto_approve_max_principal_minor":
        amount, ceiling = money(int(rule.value), currency), money(int(rule.limit), currency)
        return f"{amount} is over the policy's ceiling of {ceiling}"
    return rule.detail


def _disbursed(system: System, loan: Loan, *, start: dt.date, key: str) -> Loan:
    if loan.status == "approved":
        return system.manager.loans.disburse_loan(loan.id, on=start, idempotency_key=key)
    return loan


def decide(
    system: System,
    progress: Progress,
    application: Application,
    *,
    member: Member,
    start: dt.date,
    season: str,
) -> Loan | None:
    """Follow the policy's decision; a person approves what it leaves for review. The loan, if any."""
    manager = system.manager.loans
    decision = application.policy_decision
    outcome = decision.outcome if decision is not None else "review"
    failed = [
        _failed_rule(r, application.currency) for r in (decision.rules if decision else []) if not r.passed
    ]
    amount = money(application.principal_minor, application.currency)
    if application.status == "rejected" or outcome == "decline":
        progress.line(
            f"{amount}: declined by the decision policy v{decision.version if decision else '?'}", indent=2
        )
        for reason in application.adverse_action_reasons or []:
            progress.line(f"adverse-action reason: {reason.text or reason.code}", indent=3)
        return None
    if outcome == "approve" and application.loan_id:
        by = who(application.decision.by) if application.decision else "the product's decision policy"
        progress.line(f"{amount}: approved by {by} alone, no person involved", indent=2)
        loan = _disbursed(
            system,
            manager.loan(application.loan_id),
            start=start,
            key=f"demo:{season}:disburse:{member.national_id}",
        )
    else:
        why = "; ".join(failed) or "the policy leaves it to a person"
        progress.line(f"{amount}: sent to manual review by the policy ({why})", indent=2)
        submitter = application.submitted_by
        if application.status == "scored":
            loan = manager.approve_application(
                application.id,
                note="demo: trade history and cooperative membership checked",
                idempotency_key=f"demo:{season}:approve:{member.national_id}",
            )
        elif application.loan_id:
            loan = manager.loan(application.loan_id)
        else:
            raise DemoStopped(
                f"{member.name}'s application is {application.status}; the story needs it approved"
            )
        progress.line(f"submitted by {who(submitter)}", indent=3)
        progress.line(f"approved by {who(loan.approved_by)}: a second person (maker-checker)", indent=3)
        loan = _disbursed(system, loan, start=start, key=f"demo:{season}:disburse:{member.national_id}")
    if loan.status != "active":
        raise DemoStopped(f"{member.name}'s loan {loan.id} is {loan.status}, not active")
    progress.line(f"disbursed on {loan.disbursed_on}; loan {loan.id}", indent=3)
    return loan
