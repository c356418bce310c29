"""Use cases for applications: submit (and score), approve with maker-checker, reject, withdraw.

Scoring is called inside the submitting request with an Idempotency-Key derived from the
application id, and with no write transaction open: submit checks the product and the
borrower in a short read-only unit of work, fills the marketplace features a linked
borrower's application omits from escrow's trade summary (``trade_history``), calls scoring
with each feature's source, and only then writes (on SQLite a write holds the one write
gate, which a scoring call retried for seconds must not hold). Unreachable scoring (or a
scoring error other than 422), or escrow unable to give the summary (unless the product
scores without it), leaves the application ``pending_score`` for ``scoring_retry``; a 422
refuses the whole request.
What is allowed in which status is the domain's (``domain.lifecycle``): every refusal names
the actions the application allows. Maker-checker compares persons (``Principal.identity``):
the person the console submitted for cannot approve through any console key, another
person may through the same one; a plain API key is its own identity.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from services.loans.domain import build_schedule
from services.loans.domain.decision_policy import PolicyOutcome
from services.loans.domain.lifecycle import (
    ActionRefused,
    ApplicationAction,
    ApplicationStatus,
    LoanStatus,
    ScoringOutcome,
    allowed_application_actions,
    approval_refusal,
    check_application,
    scoring_outcome,
)
from services.loans.models import Application, Loan
from services.loans.repository import applications as repo
from services.loans.repository import products as products_repo
from services.loans.repository import stage
from services.loans.repository.products import ProductRow
from services.loans.schemas.applications import ApplicationIn
from services.loans.schemas.terms import load_terms
from services.loans.service import decision_policy as policy_service
from services.loans.service.accounts import LoanView, disburse_as
from services.loans.service.business_date import business_date
from services.loans.service.errors import action_refused
from services.loans.service.scoring import ScoreResult, ScoringClient, score_idempotency_key
from services.loans.service.trade_history import (
    Applicant,
    ScoringInput,
    TradeSummaryUnavailable,
    scoring_input,
)
from services.loans.settings import LoansContext
from shared.auth import Principal
from shared.changes import new_id, record_change
from shared.clients.escrow import EscrowClient
from shared.clock import as_utc, utc_iso
from shared.errors import Conflict, Forbidden, NotFound, ValidationProblem
from shared.http_client import ServiceUnreachable, UpstreamProblem

log = logging.getLogger("agrifin.loans.applications")
SEGMENTS = {"farmer": "farmer", "enterprise": "enterprise"}
RETRY_BASE_SECONDS = 15
RETRY_MAX_SECONDS = 600


def retry_delay(attempts: int) -> timedelta:
    """Backoff before the next scoring attempt after ``attempts`` failed ones."""
    return timedelta(seconds=min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)))


def _check_limits(session: Session, body: ApplicationIn) -> tuple[Applicant, ProductRow]:
    """Validate against the product; return what filling and scoring need to know, and the
    product (products never change once created: the decision uses this copy, no re-read)."""
    product, borrower = repo.product_and_borrower(session, body.product_id, body.borrower_id)
    errors: list[tuple[str, str]] = []
    if product is None:
        errors.append(("product_id", f"unknown product {body.product_id!r}"))
    if borrower is None:
        errors.append(("borrower_id", f"unknown borrower {body.borrower_id!r}"))
    if product is None or borrower is None:
        raise ValidationProblem(errors)
    if not product.min_principal_minor <= body.principal_minor <= product.max_principal_minor:
        errors.append(
            (
                "principal_minor",
                f"must be between {product.min_principal_minor} and "
                f"{product.max_principal_minor} {product.currency} minor units",
            )
        )
    if not product.min_repayments <= body.number_of_repayments <= product.max_repayments:
        errors.append(
            ("number_of_repayments", f"must be between {product.min_repayments} and {product.max_repayments}")
        )
    rate = body.annual_interest_rate
    low, high = product.min_annual_interest_rate, product.max_annual_interest_rate
    if (low is not None and rate < Decimal(low)) or (high is not None and rate > Decimal(high)):
        errors.append(("annual_interest_rate", f"must be between {low or '0'} and {high or 'any'} percent"))
    if not errors:
        try:
            build_schedule(
                terms=load_terms(product.terms),
                principal_minor=body.principal_minor,
                annual_interest_rate=rate,
                number_of_repayments=body.number_of_repayments,
                disbursement_date=body.disbursement_date,
                first_repayment_date=body.first_repayment_date,
            )
        except ValueError as exc:
            errors.append(("body", str(exc)))
    if errors:
        raise ValidationProblem(errors)
    applicant = Applicant(
        segment=SEGMENTS[borrower.type],
        currency=product.currency,
        marketplace_party_id=borrower.marketplace_party_id,
        score_without_marketplace=product.score_without_marketplace,
    )
    return applicant, product


def _features_problem(exc: UpstreamProblem) -> ValidationProblem:
    items = exc.problem.get("errors")
    errors: list[tuple[str, str]] = []
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                field = str(item.get("field") or "features")
                if not field.startswith("features"):
                    field = f"features.{field}"
                errors.append((field, str(item.get("message") or "invalid")))
    if not errors:
        errors.append(("features", str(exc.problem.get("detail") or "refused by the scoring service")))
    return ValidationProblem(
        errors,
        detail="the scoring service refused the features: " + "; ".join(f"{f}: {m}" for f, m in errors),
    )


def store_scoring_input(application: Application, prepared: ScoringInput) -> None:
    """Record what scoring gets: features (marketplace ones filled), their sources, the summary's time."""
    application.features = json.dumps(prepared.features, sort_keys=True)
    application.feature_sources = json.dumps(prepared.sources, sort_keys=True)
    application.marketplace_as_of = prepared.marketplace_as_of


def _as_stored(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` as read back from the JSON ``store_scoring_input`` writes (keys sorted), without
    the round trip when every key is a string and every value a plain scalar."""
    if all(type(k) is str and (v is None or type(v) in _SCALARS) for k, v in values.items()):
        return dict(sorted(values.items()))
    loaded: dict[str, Any] = json.loads(json.dumps(values, sort_keys=True))
    return loaded


_SCALARS = (str, int, float, bool)


def score_application(
    scoring: ScoringClient,
    application: Application,
    *,
    segment: str,
    prepared: ScoringInput | None = None,
) -> ScoreResult:
    """Ask scoring for the application's score with its recorded features and their sources
    (``prepared``: what ``store_scoring_input`` recorded, when the caller has it at hand)."""
    as_of = application.marketplace_as_of
    if prepared is None:
        features = json.loads(application.features)
        sources = json.loads(application.feature_sources or "{}")
    else:
        features, sources = _as_stored(prepared.features), _as_stored(prepared.sources)
    return scoring.score(
        segment=segment,
        subject_id=application.borrower_id,
        features=features,
        idempotency_key=score_idempotency_key(application.id),
        feature_sources=sources,
        marketplace_as_of=None if as_of is None else as_utc(as_of),
    )


def submit_application(
    session: Session,
    ctx: LoansContext,
    scoring: ScoringClient,
    *,
    escrow: Callable[[], EscrowClient],
    who: Principal,
    body: ApplicationIn,
) -> Application:
    """Validate, fill the marketplace features, score and store an application
    (``pending_score`` when scoring, or escrow's trade summary, is not to be had)."""
    with ctx.db.unit_of_work(read_only=True) as reading:
        applicant, product = _check_limits(reading, body)
    currency, segment = applicant.currency, applicant.segment
    now = ctx.clock.now()
    application = Application(
        id=new_id(),
        product_id=body.product_id,
        borrower_id=body.borrower_id,
        status=ApplicationStatus.PENDING_SCORE.value,
        currency=currency,
        principal_minor=body.principal_minor,
        annual_interest_rate=str(body.annual_interest_rate),
        number_of_repayments=body.number_of_repayments,
        disbursement_date=body.disbursement_date,
        first_repayment_date=body.first_repayment_date,
        features=json.dumps(body.features, sort_keys=True),
        submitted_by=who.actor,
        submitted_key_id=who.key_id,
        submitted_identity=who.identity,
        submitted_at=now,
        score_attempts=0,
        updated_at=now,
    )
    result: ScoreResult | None = None
    try:
        prepared = scoring_input(escrow, applicant, body.features, now=now)
    except TradeSummaryUnavailable as exc:
        note_score_failure(application, str(exc), now)  # features as submitted, sources not yet known
    else:
        store_scoring_input(application, prepared)
        try:
            result = score_application(scoring, application, segment=segment, prepared=prepared)
        except UpstreamProblem as exc:
            if exc.status == 422:
                raise _features_problem(exc) from None
            note_score_failure(application, str(exc), now)
        except ServiceUnreachable as exc:
            note_score_failure(application, str(exc), now)
    # Staged, not flushed: scoring and the policy's decision set the rest of the row, and the
    # application is written once, in its final state, when the request commits (with its
    # loan, if the policy approved it). Nothing read below looks at it.
    with session.no_autoflush:
        stage(session, application)
        record_change(
            session,
            ctx,
            actor=who.actor,
            action="loan.application_submitted",
            subject=f"application:{application.id}",
            payload={
                "application_id": application.id,
                "product_id": body.product_id,
                "borrower_id": body.borrower_id,
                "principal_minor": body.principal_minor,
                "currency": currency,
                "status": application.status,
            },
        )
        if result is not None:
            apply_score(session, ctx, application, result, actor=who.actor, product=product)
    return application


def note_score_failure(application: Application, error: str, now: datetime) -> None:
    """Count a failed scoring attempt and schedule the next one (with backoff)."""
    application.score_attempts += 1
    application.last_score_error = error[:2000]
    application.next_score_attempt_at = now + retry_delay(application.score_attempts)
    application.updated_at = now


def apply_score(
    session: Session,
    ctx: LoansContext,
    application: Application,
    result: ScoreResult,
    *,
    actor: str,
    product: ProductRow | None = None,
) -> None:
    """Store a score on a pending application (status ``scored``), audited, and let the
    product's policy decide it (``product``: the application's, when the caller has it)."""
    now = ctx.clock.now()
    scored = scoring_outcome(application.status, ScoringOutcome.SCORED)
    assert scored is not None, "a score is only stored on a pending application"
    application.status = scored.value
    application.score_id = result.id
    application.score = str(result.score)
    application.grade = result.grade
    application.pd = str(result.pd)
    application.decision_hint = result.decision_hint
    application.model_version = result.model_version
    application.reasons = json.dumps([r.model_dump(mode="json") for r in result.reasons])
    if result.feature_sources:  # scoring's: every feature of the spec
        application.feature_sources = json.dumps(result.feature_sources, sort_keys=True)
    sources: dict[str, str] = json.loads(application.feature_sources or "{}")
    application.challenger_disagreement = result.challenger_disagreement
    application.scored_at = now
    application.score_attempts += 1
    application.next_score_attempt_at = None
    application.last_score_error = None
    application.updated_at = now
    record_change(
        session,
        ctx,
        actor=actor,
        action="loan.application_scored",
        subject=f"application:{application.id}",
        payload={
            "application_id": application.id,
            "score_id": result.id,
            "score": str(result.score),
            "grade": result.grade,
            "pd": str(result.pd),
            "decision_hint": result.decision_hint,
            "model_version": result.model_version,
            "reason_codes": [r.code for r in result.reasons],
            "feature_sources": sources,
            "marketplace_as_of": _iso(application.marketplace_as_of),
            "challenger_disagreement": result.challenger_disagreement,
        },
    )
    apply_policy(session, ctx, application, product=product, feature_sources=sources)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else utc_iso(moment)


def apply_policy(
    session: Session,
    ctx: LoansContext,
    application: Application,
    *,
    product: ProductRow | None = None,
    feature_sources: Mapping[str, str] | None = None,
) -> None:
    """Let the product's decision policy decide a just-scored application (nothing without one).

    approve: approved and its loan created as a person's approval does (disbursed at once when
    the policy says so and the disbursement date is not after the business date); decline:
    rejected with the score's reasons as adverse-action reasons; review: left for a person.
    """
    evaluated = policy_service.evaluate(session, application, feature_sources=feature_sources)
    if evaluated is None:
        return
    policy, decision = evaluated
    actor = policy_service.policy_actor(policy)
    rules = policy_service.rule_records(decision)
    if decision.outcome is PolicyOutcome.APPROVE:
        approved = _check(application, ApplicationAction.APPROVE)
        if product is None:
            product = products_repo.product_terms(session, application.product_id)
        assert product is not None and product.id == application.product_id
        loan = _approve(session, ctx, application, product, actor=actor, status=approved, note=None)
        if policy.rules.auto_disburse:
            on = application.disbursement_date
            if on <= business_date(session, ctx):
                session.flush()  # disbursing writes the loan's schedule: the loan row goes first
                try:  # every refusal of disburse_as comes before it writes anything
                    disburse_as(session, ctx, actor=actor, loan=loan, on=on)
                except ValidationProblem as exc:
                    log.warning("policy could not disburse loan %s: %s", loan.id, exc)
    elif decision.outcome is PolicyOutcome.DECLINE:
        _reject(session, ctx, application, actor=actor, status=_check(application, ApplicationAction.REJECT))
    else:
        record_change(
            session,
            ctx,
            actor=actor,
            action="loan.application_policy_review",
            subject=f"application:{application.id}",
            payload={"application_id": application.id, "policy_version": policy.version, "rules": rules},
        )


def require_application(session: Session, application_id: str, *, lock: bool = False) -> Application:
    """An application or 404."""
    application = repo.get_application(session, application_id, lock=lock)
    if application is None:
        raise NotFound(f"application {application_id} not found")
    return application


def _utc_bound(field: str, value: datetime | None) -> datetime | None:
    try:
        return None if value is None else as_utc(value)
    except OverflowError:  # 9999-12-31T23:59-23:00 is after the last representable UTC time
        raise ValidationProblem([(field, "is outside the range of representable times")]) from None


def list_applications(
    session: Session,
    *,
    status: str | None = None,
    borrower_id: str | None = None,
    product_id: str | None = None,
    decision_hint: str | None = None,
    grade: str | None = None,
    submitted_from: datetime | None = None,
    submitted_to: datetime | None = None,
    order: str = "newest",
    limit: int,
    offset: int,
) -> Sequence[Application]:
    """Applications newest (or ``order="oldest"``) first, filtered; submitted in [from, to).

    A time without an offset is UTC; ``submitted_to`` must come after ``submitted_from``.
    """
    start = _utc_bound("query.submitted_from", submitted_from)
    end = _utc_bound("query.submitted_to", submitted_to)
    if start is not None and end is not None and end <= start:
        raise ValidationProblem([("query.submitted_to", "must be later than submitted_from")])
    return repo.list_applications(
        session,
        status=status,
        borrower_id=borrower_id,
        product_id=product_id,
        decision_hint=decision_hint,
        grade=grade,
        submitted_from=start,
        submitted_to=end,
        oldest_first=order == "oldest",
        limit=limit,
        offset=offset,
    )


def _check(application: Application, action: ApplicationAction) -> ApplicationStatus:
    """The status ``action`` leads to, or 409 naming the actions the application allows."""
    try:
        return check_application(application.status, action)
    except ActionRefused as exc:
        raise action_refused(exc) from None


def approve_application(
    session: Session, ctx: LoansContext, *, who: Principal, application_id: str, note: str | None
) -> LoanView:
    """Approve a scored application (second person when the product asks) and create its loan."""
    application = require_application(session, application_id, lock=True)
    approved = _check(application, ApplicationAction.APPROVE)
    product = products_repo.product_terms(session, application.product_id)
    assert product is not None
    if product.maker_checker and who.identity == application.submitted_identity:
        submitter = "person who" if application.submitted_identity.startswith("person:") else "key that"
        raise Forbidden(
            f"maker-checker: the product needs a second person; the {submitter} submitted "
            "this application cannot approve it"
        )
    refusal = approval_refusal(decision_hint=application.decision_hint, note=note)
    if refusal is not None:
        raise Conflict(
            refusal,
            current_state=application.status,
            allowed_actions=[a.value for a in allowed_application_actions(application.status)],
        )
    loan = _approve(session, ctx, application, product, actor=who.actor, status=approved, note=note)
    return LoanView(loan, None)


def _approve(
    session: Session,
    ctx: LoansContext,
    application: Application,
    product: ProductRow,
    *,
    actor: str,
    status: ApplicationStatus,
    note: str | None,
) -> Loan:
    """Approve ``application`` in the name of ``actor`` and create its loan, audited."""
    now = ctx.clock.now()
    loan = Loan(
        id=new_id(),
        application_id=application.id,
        product_id=product.id,
        borrower_id=application.borrower_id,
        status=LoanStatus.APPROVED.value,
        currency=application.currency,
        principal_minor=application.principal_minor,
        annual_interest_rate=application.annual_interest_rate,
        number_of_repayments=application.number_of_repayments,
        expected_disbursement_date=application.disbursement_date,
        first_repayment_date=application.first_repayment_date,
        terms=product.terms,
        approved_by=actor,
        approved_at=now,
        disbursement_fees_minor=0,
        next_sequence=1,
        principal_outstanding_minor=0,
        interest_outstanding_minor=0,
        fee_outstanding_minor=0,
        penalty_outstanding_minor=0,
        credit_balance_minor=0,
        interest_accrued_minor=0,
        days_past_due=0,
        delinquency_bucket="current",
        cob_dirty=False,
        created_at=now,
        updated_at=now,
    )
    _decide(application, actor, status, note, now)
    application.loan_id = loan.id
    stage(session, loan)  # written at the next flush, after its application (foreign key order)
    record_change(
        session,
        ctx,
        actor=actor,
        action="loan.approved",
        subject=f"loan:{loan.id}",
        payload={
            "loan_id": loan.id,
            "application_id": application.id,
            "score_id": application.score_id,
            "decision_hint": application.decision_hint,
            "principal_minor": loan.principal_minor,
            "currency": loan.currency,
            "maker_checker": product.maker_checker,
            "note": note,
        },
    )
    return loan


def _decide(
    application: Application, actor: str, status: ApplicationStatus, note: str | None, now: datetime
) -> None:
    application.status = status.value
    application.decided_by = actor
    application.decided_at = now
    application.decision_note = note
    application.updated_at = now


def reject_application(
    session: Session, ctx: LoansContext, *, who: Principal, application_id: str, note: str | None
) -> Application:
    """Reject a scored application; the adverse-action reasons are the score's reason codes."""
    application = require_application(session, application_id, lock=True)
    rejected = _check(application, ApplicationAction.REJECT)
    _reject(session, ctx, application, actor=who.actor, status=rejected, note=note)
    return application


def _reject(
    session: Session,
    ctx: LoansContext,
    application: Application,
    *,
    actor: str,
    status: ApplicationStatus,
    note: str | None = None,
) -> None:
    """Reject ``application`` in the name of ``actor``; the score's reasons are the adverse-action reasons."""
    reasons: list[dict[str, Any]] = json.loads(application.reasons or "[]")
    adverse = [{"code": r["code"], "text": r.get("text")} for r in reasons]
    application.adverse_action_reasons = json.dumps(adverse)
    _decide(application, actor, status, note, ctx.clock.now())
    record_change(
        session,
        ctx,
        actor=actor,
        action="loan.rejected",
        subject=f"application:{application.id}",
        payload={
            "application_id": application.id,
            "score_id": application.score_id,
            "reason_codes": [r["code"] for r in adverse],
            "note": note,
        },
    )


def withdraw_application(
    session: Session, ctx: LoansContext, *, who: Principal, application_id: str, note: str | None
) -> Application:
    """Withdraw an application that is not decided yet."""
    application = require_application(session, application_id, lock=True)
    withdrawn = _check(application, ApplicationAction.WITHDRAW)
    application.next_score_attempt_at = None
    _decide(application, who.actor, withdrawn, note, ctx.clock.now())
    session.flush()
    record_change(
        session,
        ctx,
        actor=who.actor,
        action="loan.application_withdrawn",
        subject=f"application:{application.id}",
        payload={"application_id": application.id, "note": note},
    )
    return application
