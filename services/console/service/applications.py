"""Use cases of the application pages: the review queue, the application form generated from
the segment's feature spec, the application page with its score card, approving and
rejecting, and the adverse-action notice.

Loans is the page's main service (a loans failure is the page's failure); scoring gives the
score card, the waterfall and reason texts in the person's language, and its absence leaves
an ``unavailable`` notice where the card would be while the rest of the page still shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from services.console.domain.catalogue import N_
from services.console.domain.feature_labels import feature_label
from services.console.domain.masking import shown_identifier, shown_name
from services.console.domain.notice import AdverseNotice, day_of, person_of
from services.console.domain.paging import PAGE_SIZE as PAGE_SIZE
from services.console.domain.scorecard import (
    GRADES,
    HINTS,
    POLICY_OUTCOME_LABELS,
    RULE_LABELS,
    STATUSES,
    TERM_FIELDS,
    FeatureField,
    Problem,
    Reason,
    RuleFigures,
    ScoreCard,
    Terms,
    age_days,
    feature_fields,
    feature_labels,
    form_problems,
    inline_svg,
    parse_features,
    parse_terms,
    policy_version_of,
    reasons_from,
    reasons_in_language,
    rule_figures,
    score_card,
)
from services.console.service.backends import Backends
from services.console.service.sessions import Person
from shared.clients.loans import Application, Borrower, PolicyRuleResult, Product, SchedulePreview
from shared.clients.scoring import Language, ScoringClient
from shared.http_client import ServiceUnreachable, UpstreamProblem

BORROWER_CHOICES = 200
"""How many borrowers the form's borrower list offers (the borrower pages find any other)."""
QUOTERS = frozenset({"loan_officer", "credit_manager", "admin"})
"""Roles loans computes schedule previews for (its ``Quoter``)."""
DECIDERS = frozenset({"credit_manager", "admin"})
"""Roles that approve and reject (loans' ``Manager``)."""
SEGMENT_OF_TYPE = {"farmer": "farmer", "enterprise": "enterprise"}
"""A borrower's type -> the scoring segment it is scored in (loans does the same)."""
MAKER_CHECKER = N_("You submitted this application; another credit manager must decide it.")


# ---------------------------------------------------------------- scoring


def _language(language: str) -> Language:
    return "zh" if language == "zh" else "en"


def scoring_decision(scoring: ScoringClient, score_id: str, language: str) -> dict[str, Any]:
    """A stored decision with its contributions and reasons in ``language`` (as plain data)."""
    return scoring.get_score(score_id, lang=_language(language)).model_dump(mode="json")


def scoring_segment(scoring: ScoringClient, segment: str) -> dict[str, Any]:
    """A segment's feature spec (as plain data)."""
    return scoring.segment(segment).model_dump(mode="json")


# ---------------------------------------------------------------- the review queue


@dataclass(frozen=True)
class QueueFilters:
    """The review queue's filters (blank = any); the queue opens on ``scored``."""

    status: str = "scored"
    decision_hint: str = ""
    grade: str = ""
    product_id: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> QueueFilters:
        """The filters of a query string; a value not offered is ignored."""

        def chosen(name: str, allowed: Sequence[str], default: str = "") -> str:
            value = query.get(name, default)
            return value if value in allowed else default

        product = query.get("product_id", "")
        return cls(
            status=chosen("status", ("", *STATUSES), "scored") if "status" in query else "scored",
            decision_hint=chosen("decision_hint", HINTS),
            grade=chosen("grade", GRADES),
            product_id=product if 0 < len(product) <= 36 else "",
        )

    def query(self) -> str:
        """The filters as a query string (a blank status kept: it means any status)."""
        values = {"status": self.status}
        values.update({k: v for k, v in (("decision_hint", self.decision_hint), ("grade", self.grade)) if v})
        if self.product_id:
            values["product_id"] = self.product_id
        return urlencode(values)


@dataclass(frozen=True)
class QueueRow:
    """One application in the queue."""

    id: str
    borrower: str
    product: str
    status: str
    score: Decimal | None
    grade: str | None
    decision_hint: str | None
    amount_minor: int
    currency: str
    age_days: int


@dataclass(frozen=True)
class QueuePage:
    """A page of the review queue and what its filter form offers."""

    rows: list[QueueRow]
    page: int
    has_next: bool
    filters: QueueFilters
    products: list[tuple[str, str]]


def review_queue(
    b: Backends,
    person: Person,
    filters: QueueFilters,
    *,
    page: int,
    now: datetime,
    page_size: int = PAGE_SIZE,
) -> QueuePage:
    """Applications oldest first, filtered; one borrowers call names a page's borrowers."""
    page = max(1, page)
    found = b.loans.applications(
        status=filters.status or None,
        decision_hint=filters.decision_hint or None,  # type: ignore[arg-type]
        grade=filters.grade or None,
        product_id=filters.product_id or None,
        order="oldest",
        limit=page_size + 1,
        offset=(page - 1) * page_size,
    )
    shown = found[:page_size]
    borrowers = {x.id: x for x in b.loans.borrowers(ids=[a.borrower_id for a in shown])} if shown else {}
    products = b.loans.products()
    names = {p.id: p.name for p in products}
    rows = [
        QueueRow(
            id=a.id,
            borrower=shown_name(borrowers[a.borrower_id].name, person.role)
            if a.borrower_id in borrowers
            else a.borrower_id,
            product=names.get(a.product_id, a.product_id),
            status=a.status,
            score=a.score.score if a.score else None,
            grade=a.score.grade if a.score else None,
            decision_hint=a.score.decision_hint if a.score else None,
            amount_minor=a.principal_minor,
            currency=a.currency,
            age_days=age_days(a.submitted_at, now),
        )
        for a in shown
    ]
    return QueuePage(
        rows=rows,
        page=page,
        has_next=len(found) > page_size,
        filters=filters,
        products=[(p.id, p.name) for p in products],
    )


# ---------------------------------------------------------------- the application form


@dataclass
class ApplicationForm:
    """The application form: step one chooses the borrower, step two is the whole form."""

    products: list[Product]
    borrowers: list[Borrower]
    borrower: Borrower | None
    segment: str | None
    fields: list[FeatureField]
    values: dict[str, str]
    problems: dict[str, Problem]
    idempotency_key: str
    unavailable: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Whether the whole form can be shown (a borrower chosen and the spec read)."""
        return self.borrower is not None and not self.unavailable


def application_form(
    b: Backends,
    person: Person,
    values: Mapping[str, str],
    *,
    idempotency_key: str,
    today: date,
    problems: Mapping[str, Problem] | None = None,
) -> ApplicationForm:
    """The form for ``values`` (``borrower_id`` chosen or not), re-filled with what was typed."""
    products = b.loans.products()
    filled = dict(values)
    filled.setdefault("disbursement_date", today.isoformat())
    if products:
        filled.setdefault("product_id", products[0].id)
    borrower_id = filled.get("borrower_id", "")
    form = ApplicationForm(
        products=products,
        borrowers=[],
        borrower=None,
        segment=None,
        fields=[],
        values=filled,
        problems=dict(problems or {}),
        idempotency_key=idempotency_key,
    )
    if not borrower_id:
        form.borrowers = b.loans.borrowers(limit=BORROWER_CHOICES)
        return form
    form.borrower = b.loans.borrower(borrower_id)
    form.segment = SEGMENT_OF_TYPE.get(form.borrower.type, form.borrower.type)
    try:
        form.fields = feature_fields(scoring_segment(b.scoring, form.segment))
    except ServiceUnreachable:
        form.unavailable = ["scoring"]
    return form


@dataclass(frozen=True)
class Submitted:
    """An application loans accepted."""

    application: Application


def submit_application(
    b: Backends,
    person: Person,
    values: Mapping[str, str],
    *,
    idempotency_key: str,
    today: date,
) -> Submitted | ApplicationForm:
    """Submit the form: parsed here (amounts in minor units by the product's currency), then
    checked by loans and scored by scoring; any problem comes back beside its field."""
    form = application_form(b, person, values, idempotency_key=idempotency_key, today=today)
    if not form.complete:
        return form
    problems: dict[str, Problem] = {}
    product = next((p for p in form.products if p.id == values.get("product_id")), None)
    terms = parse_terms(values, product.currency) if product is not None else None
    if product is None:
        problems["product_id"] = Problem(N_("Choose a product."))
    elif isinstance(terms, dict):
        problems.update(terms)
    features, feature_problems = parse_features(form.fields, values)
    problems.update(feature_problems)
    if problems or product is None or not isinstance(terms, Terms) or form.borrower is None:
        form.problems = problems
        return form
    try:
        application = b.loans.submit_application(
            product_id=product.id,
            borrower_id=form.borrower.id,
            principal_minor=terms.principal_minor,
            annual_interest_rate=terms.annual_interest_rate,
            number_of_repayments=terms.number_of_repayments,
            disbursement_date=terms.disbursement_date,
            first_repayment_date=terms.first_repayment_date,
            features=features,
            idempotency_key=idempotency_key,
        )
    except UpstreamProblem as exc:
        if exc.status not in (409, 422):
            raise
        known = [*TERM_FIELDS, *(f.field for f in form.fields)]
        form.problems = {k: Problem(v) for k, v in form_problems(exc.problem, known).items()}
        return form
    return Submitted(application)


# ---------------------------------------------------------------- the application page


@dataclass(frozen=True)
class PolicyRule:
    """One rule of the decision policy as the page shows it (``label`` is a catalogue message)."""

    rule: str
    label: str
    passed: bool
    detail: str
    """Loans' words, shown only when the page cannot word the figures itself."""
    figures: RuleFigures
    defaulted: tuple[str, ...] = ()
    """Labels (catalogue messages) of the application's defaulted features."""


@dataclass(frozen=True)
class PolicyView:
    """What the product's decision policy decided, and whether the decision is the policy's.

    ``decided_by_policy``: the policy approved or declined on its own; otherwise it sent the
    application to a person (``person`` is who then decided, None while it waits).
    """

    version: int
    outcome: str
    outcome_label: str
    decided_by_policy: bool
    person: str | None
    rules: tuple[PolicyRule, ...]


def policy_view(application: Application) -> PolicyView | None:
    """The decision-policy section of an application, None when no policy looked at it."""
    decision = application.policy_decision
    if decision is None:
        return None
    by = application.decision.by if application.decision else None
    by_policy = by is not None and policy_version_of(by) is not None
    sources = application.feature_sources or {}
    defaulted = tuple(feature_label(name) for name in sorted(sources) if sources[name] == "default")
    return PolicyView(
        version=decision.version,
        outcome=decision.outcome,
        outcome_label=POLICY_OUTCOME_LABELS.get(decision.outcome, decision.outcome),
        decided_by_policy=by_policy,
        person=person_of(by) if by is not None and not by_policy else None,
        rules=tuple(_policy_rule(r, defaulted) for r in decision.rules),
    )


def _policy_rule(result: PolicyRuleResult, defaulted: tuple[str, ...]) -> PolicyRule:
    return PolicyRule(
        rule=result.rule,
        label=RULE_LABELS.get(result.rule, result.rule),
        passed=result.passed,
        detail=result.detail,
        figures=rule_figures(result.rule, result.value, result.limit),
        defaulted=defaulted if result.rule == "review_when_feature_defaulted" else (),
    )


@dataclass
class ApplicationPage:
    """An application with its borrower, terms, schedule preview and score card."""

    application: Application
    borrower: Borrower
    borrower_name: str
    borrower_identifier: str | None
    product: Product | None
    submitted_by: str
    decided_by: str | None
    preview: SchedulePreview | None
    preview_note: str | None
    card: ScoreCard | None
    waterfall: str | None
    reasons: tuple[Reason, ...]
    can_approve: bool
    can_reject: bool
    unavailable: list[str] = field(default_factory=list)
    policy: PolicyView | None = None


def _product(b: Backends, product_id: str) -> Product | None:
    try:
        return b.loans.product(product_id)
    except UpstreamProblem as exc:
        if exc.status == 404:
            return None
        raise


def _card(
    b: Backends, application: Application, language: str
) -> tuple[ScoreCard | None, str | None, list[str]]:
    """The score card and waterfall from scoring, or the service named as unavailable."""
    if application.score is None:
        return None, None, []
    try:
        decision = scoring_decision(b.scoring, application.score.id, language)
        try:
            labels = feature_labels(
                feature_fields(scoring_segment(b.scoring, str(decision.get("segment") or "")))
            )
        except UpstreamProblem:
            labels = {}
        try:
            svg = inline_svg(b.scoring.waterfall_svg(application.score.id, lang=_language(language)))
        except UpstreamProblem:
            svg = None
    except ServiceUnreachable:
        return None, None, ["scoring"]
    return score_card(decision, labels), svg, []


def _stored_reasons(application: Application) -> tuple[Reason, ...]:
    """The reasons loans keeps with the score (English texts as they were scored)."""
    if application.score is None:
        return ()
    return reasons_from([r.model_dump(mode="json") for r in application.score.reasons])


def application_page(b: Backends, person: Person, application_id: str) -> ApplicationPage:
    """Everything the application page shows (scoring's part degrades to a notice)."""
    application = b.loans.application(application_id)
    borrower = b.loans.borrower(application.borrower_id)
    product = _product(b, application.product_id)
    preview, preview_note = None, None
    if person.role not in QUOTERS:
        preview_note = N_("The schedule preview is computed for loan officers and credit managers.")
    elif product is not None:
        try:
            preview = b.loans.preview_schedule(
                terms=product.id,
                principal_minor=application.principal_minor,
                annual_interest_rate=application.annual_interest_rate,
                number_of_repayments=application.number_of_repayments,
                disbursement_date=application.disbursement_date,
                first_repayment_date=application.first_repayment_date,
            )
        except UpstreamProblem:
            preview_note = N_("Loans could not compute a schedule for these terms.")
    card, svg, unavailable = _card(b, application, person.language)
    deciding = person.role in DECIDERS
    return ApplicationPage(
        application=application,
        borrower=borrower,
        borrower_name=shown_name(borrower.name, person.role),
        borrower_identifier=shown_identifier(borrower.national_id, person.role),
        product=product,
        submitted_by=person_of(application.submitted_by),
        decided_by=person_of(application.decision.by) if application.decision else None,
        preview=preview,
        preview_note=preview_note,
        card=card,
        waterfall=svg,
        reasons=card.reasons if card is not None else _stored_reasons(application),
        can_approve=deciding and "approve" in application.allowed_actions,
        can_reject=deciding and "reject" in application.allowed_actions,
        unavailable=unavailable,
        policy=policy_view(application),
    )


def approve(b: Backends, application_id: str, *, note: str | None, idempotency_key: str) -> str:
    """Approve; the new loan's id (``UpstreamProblem`` when loans refuses)."""
    loan = b.loans.approve_application(application_id, note=note, idempotency_key=idempotency_key)
    return loan.id


def reject(b: Backends, application_id: str, *, note: str | None, idempotency_key: str) -> Application:
    """Reject; the application with its adverse-action reasons."""
    return b.loans.reject_application(application_id, note=note, idempotency_key=idempotency_key)


def refusal(exc: UpstreamProblem) -> Problem:
    """Loans' refusal of a decision in plain words (maker-checker says who must decide)."""
    detail = str(exc.problem.get("detail") or exc.problem.get("title") or "")
    if exc.status == 403 and "maker-checker" in detail:
        return Problem(MAKER_CHECKER)
    return Problem(detail or N_("The loans service refused."))


# ---------------------------------------------------------------- rejection and the notice


def _reason_texts(b: Backends, application: Application, language: str) -> dict[str, str]:
    """Reason code -> text in ``language``, from scoring (empty when it does not answer)."""
    if application.score is None:
        return {}
    try:
        decision = scoring_decision(b.scoring, application.score.id, language)
    except (ServiceUnreachable, UpstreamProblem):
        return {}
    return {
        r.code: r.text
        for r in reasons_from(decision.get("reasons"), limit=len(decision.get("reasons") or []))
    }


def reasons_to_send(b: Backends, person: Person, application: Application) -> tuple[Reason, ...]:
    """The principal reasons a rejection would send, in the person's language."""
    stored = _stored_reasons(application)
    texts = _reason_texts(b, application, person.language)
    return tuple(Reason(r.code, texts.get(r.code) or r.text, r.feature, r.points) for r in stored)


def adverse_notice(b: Backends, person: Person, application_id: str) -> AdverseNotice | None:
    """The notice of a rejected application (None when it was not rejected)."""
    application = b.loans.application(application_id)
    if application.status != "rejected" or application.adverse_action_reasons is None:
        return None
    borrower = b.loans.borrower(application.borrower_id)
    product = _product(b, application.product_id)
    texts = _reason_texts(b, application, person.language)
    decided = application.decision.at if application.decision else application.submitted_at
    return AdverseNotice(
        application_id=application.id,
        applicant=shown_name(borrower.name, person.role),
        national_id=shown_identifier(borrower.national_id, person.role),
        product=product.name if product else application.product_id,
        amount_minor=application.principal_minor,
        currency=application.currency,
        submitted_on=day_of(application.submitted_at),
        decided_on=day_of(decided),
        reasons=reasons_in_language(
            [r.model_dump(mode="json") for r in application.adverse_action_reasons], texts
        ),
    )
