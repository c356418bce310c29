"""Typed client of the loans service over an injected ``httpx.Client``.

What a loan officer, a credit manager and an auditor work with: products and schedule
previews, borrowers, applications (the review queue and its decisions), loans with their
schedule and transactions, disbursement and repayments, portfolio at risk and the business
date. What an admin (or a credit manager) runs it with: creating products, their versioned
decision policies, moving the business date, close of business (a job to poll with ``job``)
and, for auditors, the proceeds reconciliation with escrow. Money is integer minor units;
rates, scores and ratios are ``Decimal``.

The console builds one client per signed-in person: its ``service:console`` key plus the
acting headers (``shared.auth.ACTING_*_HEADER``) as ``headers=``; loans then authorises,
audits and applies maker-checker to that person. Every state-changing call takes an
``idempotency_key`` (so it is retried safely). Errors are the shared client's:
``ServiceUnreachable``, ``UpstreamProblem`` with loans' problem (403 maker-checker, 409 with
``allowed_actions``, 422 with ``errors``), and a 502 ``UpstreamProblem`` for an answer that
does not parse; each names the service when the client was given ``service=``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared.clients.platform import PlatformClient, unexpected_answer
from shared.http_client import UpstreamProblem

MAX_IDS_PER_CALL = 100
"""Most borrower ids loans takes in one ``GET /v1/borrowers?ids=`` (the client splits longer lists)."""

DecisionHint = Literal["approve", "review", "decline"]
ListOrder = Literal["newest", "oldest"]
RepaymentSource = Literal["borrower", "sale_proceeds"]

_T = TypeVar("_T")


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())


# Products and schedules


class Product(_Answer):
    """A loan product: limits, approval rules and its terms (as loans stores them)."""

    id: str
    name: str
    currency: str
    min_principal_minor: int
    max_principal_minor: int
    min_repayments: int
    max_repayments: int
    min_annual_interest_rate: Decimal | None = None
    max_annual_interest_rate: Decimal | None = None
    maker_checker: bool
    allow_sale_proceeds: bool
    terms: dict[str, Any]
    created_at: dt.datetime
    created_by: str


class ScheduleRow(_Answer):
    """One installment of a computed schedule."""

    number: int
    from_date: dt.date
    due_date: dt.date
    principal_minor: int
    interest_minor: int
    fee_minor: int
    penalty_minor: int
    total_minor: int
    balance_minor: int


class ScheduleTotals(_Answer):
    """Column sums of a schedule (disbursement fees are due at disbursement, not in a row)."""

    principal_minor: int
    interest_minor: int
    fee_minor: int
    penalty_minor: int
    total_minor: int
    disbursement_fees_minor: int


class SchedulePreview(_Answer):
    """A schedule computed for a quote (nothing stored)."""

    currency: str
    maturity_date: dt.date
    level_installment_minor: int | None = None
    rows: list[ScheduleRow]
    totals: ScheduleTotals


# Borrowers


class Borrower(_Answer):
    """A farmer or enterprise, personal data decrypted for an authorised reader."""

    id: str
    type: str
    name: str
    national_id: str
    phone: str | None = None
    region: str | None = None
    marketplace_party_id: str | None = None
    created_at: dt.datetime


# Applications


class ScoreReason(_Answer):
    """A reason code of an application's score."""

    code: str
    feature: str | None = None
    points: Decimal | None = None
    text: str | None = None


class ApplicationScore(_Answer):
    """The score an application is decided on."""

    id: str
    score: Decimal
    grade: str | None = None
    pd: Decimal | None = None
    decision_hint: str | None = None
    model_version: str | None = None
    reasons: list[ScoreReason]
    scored_at: dt.datetime | None = None
    challenger_disagreement: bool | None = None
    """A challenger scored in shadow gave another decision hint than the champion."""


class Decision(_Answer):
    """Who decided an application (``person:<username>:...`` for a console user), when, why."""

    by: str
    at: dt.datetime
    note: str | None = None


class AdverseReason(_Answer):
    """A reason a declined applicant receives."""

    code: str
    text: str | None = None


class PolicyRuleResult(_Answer):
    """One rule of a product's decision policy, whether it passed, its figures, and why.

    ``value`` is what the rule looked at (a score, an amount in minor units, a count) and
    ``limit`` what it compared it with; None where the rule has no figure.
    """

    rule: str
    passed: bool
    value: Decimal | None = None
    limit: Decimal | None = None
    detail: str


class PolicyDecision(_Answer):
    """What the product's decision policy decided: ``approve``, ``decline`` or ``review`` (a person)."""

    version: int
    outcome: str
    rules: list[PolicyRuleResult]


class Application(_Answer):
    """A loan application with its score, its decision and the actions it allows now.

    ``decision.by`` is ``policy:<product id>:v<version>`` when the product's decision policy
    decided it; ``policy_decision`` is what the policy decided (None without a policy).
    """

    id: str
    status: str
    product_id: str
    borrower_id: str
    currency: str
    principal_minor: int
    annual_interest_rate: Decimal
    number_of_repayments: int
    disbursement_date: dt.date
    first_repayment_date: dt.date | None = None
    features: dict[str, Any]
    feature_sources: dict[str, Literal["applicant", "marketplace", "default"]] | None = None
    """Where each feature's value came from; None while the application waits for escrow."""
    marketplace_as_of: dt.datetime | None = None
    submitted_by: str
    submitted_at: dt.datetime
    score: ApplicationScore | None = None
    score_attempts: int
    last_score_error: str | None = None
    decision: Decision | None = None
    adverse_action_reasons: list[AdverseReason] | None = None
    loan_id: str | None = None
    policy_decision: PolicyDecision | None = None
    allowed_actions: list[str]


# Loans


class Outstanding(_Answer):
    """What is still owed on a loan, per component."""

    principal_minor: int
    interest_minor: int
    fee_minor: int
    penalty_minor: int
    total_minor: int


class Loan(_Answer):
    """A loan and its account as of ``as_of``."""

    id: str
    application_id: str
    product_id: str
    borrower_id: str
    status: str
    currency: str
    principal_minor: int
    annual_interest_rate: Decimal
    number_of_repayments: int
    disbursed_on: dt.date | None = None
    maturity_date: dt.date | None = None
    disbursement_fees_minor: int
    outstanding: Outstanding
    credit_balance_minor: int
    interest_accrued_minor: int
    days_past_due: int
    delinquency_bucket: str
    as_of: dt.date | None = None
    last_cob_date: dt.date | None = None
    closed_on: dt.date | None = None
    written_off_on: dt.date | None = None
    approved_by: str
    allowed_actions: list[str]


class Installment(_Answer):
    """One installment of a loan: the fixed schedule and what is paid and outstanding on it."""

    number: int
    from_date: dt.date
    due_date: dt.date
    principal_minor: int
    interest_minor: int
    fee_minor: int
    penalty_minor: int
    total_minor: int
    balance_minor: int
    paid_minor: int
    outstanding_minor: int
    settled_on: dt.date | None = None
    overdue: bool
    status: str


class LoanSchedule(_Answer):
    """A loan's stored schedule with its paid and overdue state."""

    loan_id: str
    currency: str
    disbursement_fees_minor: int
    as_of: dt.date | None = None
    rows: list[Installment]


class InstallmentAllocation(_Answer):
    """What a repayment paid on one installment."""

    installment: int
    penalty_minor: int
    fee_minor: int
    interest_minor: int
    principal_minor: int


class Allocation(_Answer):
    """How a repayment is allocated now."""

    penalty_minor: int
    fee_minor: int
    interest_minor: int
    principal_minor: int
    overpayment_minor: int
    recovery_minor: int
    by_installment: list[InstallmentAllocation]


class Transaction(_Answer):
    """One transaction on a loan (repayment, penalty, reversal, write-off)."""

    id: str
    loan_id: str
    sequence: int
    kind: str
    date: dt.date
    amount_minor: int
    currency: str
    external_id: str | None = None
    source: str | None = None
    reverses_id: str | None = None
    reversed_by_id: str | None = None
    installment_number: int | None = None
    note: str | None = None
    created_by: str
    allocation: Allocation | None = None


# Operations


class ParFigure(_Answer):
    """One PAR threshold: principal and loans at least ``threshold_days`` past due, and the ratio."""

    threshold_days: int
    at_risk_principal_minor: int
    loans_at_risk: int
    ratio: Decimal


class ParSummary(_Answer):
    """PAR1/30/90 over a set of loans."""

    loan_count: int
    outstanding_principal_minor: int
    par1: ParFigure
    par30: ParFigure
    par90: ParFigure


class ParProduct(ParSummary):
    """PAR of one product."""

    product_id: str
    product_name: str


class ParCurrency(_Answer):
    """PAR in one currency: in total and per product."""

    currency: str
    total: ParSummary
    by_product: list[ParProduct]


class ParReport(_Answer):
    """Portfolio at risk as of a date, per currency."""

    as_of: dt.date
    currencies: list[ParCurrency]


class BusinessDate(_Answer):
    """The business date loans run on, where it comes from, and the latest closed date."""

    date: dt.date
    source: str
    last_cob_date: dt.date | None = None


class PolicyVersion(_Answer):
    """One version of a product's decision policy: its rules (as loans stores them), who set it, when."""

    product_id: str
    version: int
    rules: dict[str, Any]
    created_at: dt.datetime
    created_by: str


class Job(_Answer):
    """Long work a request queued (close of business): its state, progress, and result or error.

    ``status`` goes ``queued`` -> ``running`` -> ``succeeded`` | ``failed``.
    """

    job_id: str
    kind: str
    status: str
    progress: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: str | None = None
    attempt: int
    created_by: str
    created_at: dt.datetime
    finished_at: dt.datetime | None = None

    @property
    def finished(self) -> bool:
        """True once the job succeeded or failed (it will not change again)."""
        return self.status in ("succeeded", "failed")


class ProceedsDifference(_Answer):
    """One way a loan's sale proceeds differ from escrow's sweeps and refunds, in plain words."""

    loan_id: str
    kind: str
    detail: str
    event_id: str | None = None
    escrow_minor: int | None = None
    loans_minor: int | None = None


class ProceedsReconciliation(_Answer):
    """A page of loans' sale proceeds against escrow's sweeps; ``balanced`` when nothing differs."""

    differences: list[ProceedsDifference]
    loans_checked: int
    balanced: bool
    next_offset: int | None = None
    """Where the next page of loans starts (None: this was the last)."""


_PRODUCT = TypeAdapter(Product)
_PRODUCTS = TypeAdapter(list[Product])
_PREVIEW = TypeAdapter(SchedulePreview)
_BORROWER = TypeAdapter(Borrower)
_BORROWERS = TypeAdapter(list[Borrower])
_APPLICATION = TypeAdapter(Application)
_APPLICATIONS = TypeAdapter(list[Application])
_LOAN = TypeAdapter(Loan)
_LOANS = TypeAdapter(list[Loan])
_SCHEDULE = TypeAdapter(LoanSchedule)
_TRANSACTION = TypeAdapter(Transaction)
_TRANSACTIONS = TypeAdapter(list[Transaction])
_PAR = TypeAdapter(ParReport)
_BUSINESS_DATE = TypeAdapter(BusinessDate)
_POLICY = TypeAdapter(PolicyVersion)
_POLICIES = TypeAdapter(list[PolicyVersion])
_JOB = TypeAdapter(Job)
_RECONCILIATION = TypeAdapter(ProceedsReconciliation)


def _segment(value: str) -> str:
    """A path segment: an id can never reach another route (``../``, ``?``, ``/``)."""
    return quote(value, safe="")


def _iso(value: dt.date | None) -> str | None:
    """A date or datetime as ISO 8601 (a datetime keeps its offset; without one loans reads UTC)."""
    return None if value is None else value.isoformat()


def _drop_none(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _note(note: str | None) -> dict[str, str] | None:
    return None if note is None else {"note": note}


class LoansClient(PlatformClient):
    """Calls the loans service (and, through ``PlatformClient``, its audit routes)."""

    def _unexpected(self, what: str, exc: Exception) -> UpstreamProblem:
        problem = unexpected_answer(what, exc)
        problem.service = self.service
        return problem

    def _answer(self, adapter: TypeAdapter[_T], response: httpx.Response, what: str) -> _T:
        try:
            return adapter.validate_python(response.json())
        except (ValueError, ValidationError) as exc:
            raise self._unexpected(what, exc) from None

    def _get(self, adapter: TypeAdapter[_T], path: str, params: Mapping[str, Any] | None = None) -> _T:
        response = self.request("GET", path, params=_drop_none(params or {}))
        return self._answer(adapter, response, f"GET {path}")

    def _post(self, adapter: TypeAdapter[_T], path: str, body: Any, idempotency_key: str | None) -> _T:
        response = self.request("POST", path, json=body, idempotency_key=idempotency_key)
        return self._answer(adapter, response, f"POST {path}")

    # Products and schedules

    def products(self) -> list[Product]:
        """Every loan product."""
        return self._get(_PRODUCTS, "/v1/products")

    def product(self, product_id: str) -> Product:
        """One loan product."""
        return self._get(_PRODUCT, f"/v1/products/{_segment(product_id)}")

    def create_product(self, product: Mapping[str, Any], *, idempotency_key: str) -> Product:
        """Create a loan product from loans' product body (name, limits, rules, terms); manager, admin."""
        return self._post(_PRODUCT, "/v1/products", dict(product), idempotency_key)

    def decision_policy(self, product_id: str) -> PolicyVersion | None:
        """The product's current decision policy; None when it has none (every application waits
        for a person). An unknown product is loans' 404."""
        versions = self.decision_policy_versions(product_id)
        return versions[0] if versions else None

    def decision_policy_versions(self, product_id: str) -> list[PolicyVersion]:
        """Every version of the product's decision policy, newest first (empty: it has none)."""
        return self._get(_POLICIES, f"/v1/products/{_segment(product_id)}/decision-policy/versions")

    def set_decision_policy(
        self, product_id: str, rules: Mapping[str, Any], *, idempotency_key: str
    ) -> PolicyVersion:
        """Store ``rules`` as the product's next policy version (applies to applications scored
        from now on); manager, admin. Rules loans refuses are its 422 naming the field."""
        path = f"/v1/products/{_segment(product_id)}/decision-policy"
        return self._post(_POLICY, path, dict(rules), idempotency_key)

    def preview_schedule(
        self,
        *,
        terms: str | Mapping[str, Any],
        principal_minor: int,
        annual_interest_rate: Decimal | str,
        number_of_repayments: int,
        disbursement_date: dt.date,
        first_repayment_date: dt.date | None = None,
        idempotency_key: str | None = None,
    ) -> SchedulePreview:
        """A schedule for a product (``terms`` = its id) or inline terms; loans stores nothing."""
        body = {
            "terms": terms if isinstance(terms, str) else dict(terms),
            "principal_minor": principal_minor,
            "annual_interest_rate": str(annual_interest_rate),
            "number_of_repayments": number_of_repayments,
            "disbursement_date": disbursement_date.isoformat(),
            "first_repayment_date": _iso(first_repayment_date),
        }
        return self._post(_PREVIEW, "/v1/schedules/preview", body, idempotency_key)

    # Borrowers

    def create_borrower(
        self,
        *,
        type: Literal["farmer", "enterprise"],
        name: str,
        national_id: str,
        phone: str | None = None,
        region: str | None = None,
        marketplace_party_id: str | None = None,
        idempotency_key: str,
    ) -> Borrower:
        """Register a farmer or enterprise (loans encrypts the personal data at rest), optionally
        linked to its marketplace party in escrow."""
        body = _drop_none(
            {
                "type": type,
                "name": name,
                "national_id": national_id,
                "phone": phone,
                "region": region,
                "marketplace_party_id": marketplace_party_id,
            }
        )
        return self._post(_BORROWER, "/v1/borrowers", body, idempotency_key)

    def borrowers(
        self,
        *,
        national_id: str | None = None,
        ids: Sequence[str] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Borrower]:
        """Borrowers: a page, the one with ``national_id``, or those named by ``ids``.

        With ``ids`` the answer holds those borrowers in the order given (each once, unknown
        ids left out; ``limit``/``offset`` do not apply), fetched ``MAX_IDS_PER_CALL`` at a time.
        """
        if ids is None:
            params = {"national_id": national_id, "limit": limit, "offset": offset}
            return self._get(_BORROWERS, "/v1/borrowers", params)
        unique = list(dict.fromkeys(ids))
        found: list[Borrower] = []
        for start in range(0, len(unique), MAX_IDS_PER_CALL):
            chunk = ",".join(unique[start : start + MAX_IDS_PER_CALL])
            page: list[Borrower] = self._get(
                _BORROWERS, "/v1/borrowers", {"ids": chunk, "national_id": national_id}
            )
            found.extend(page)
        return found

    def borrower(self, borrower_id: str) -> Borrower:
        """One borrower."""
        return self._get(_BORROWER, f"/v1/borrowers/{_segment(borrower_id)}")

    # Applications

    def submit_application(
        self,
        *,
        product_id: str,
        borrower_id: str,
        principal_minor: int,
        annual_interest_rate: Decimal | str,
        number_of_repayments: int,
        disbursement_date: dt.date,
        first_repayment_date: dt.date | None = None,
        features: Mapping[str, Any],
        idempotency_key: str,
    ) -> Application:
        """Submit an application; loans scores it at once (or leaves it ``pending_score``)."""
        body = {
            "product_id": product_id,
            "borrower_id": borrower_id,
            "principal_minor": principal_minor,
            "annual_interest_rate": str(annual_interest_rate),
            "number_of_repayments": number_of_repayments,
            "disbursement_date": disbursement_date.isoformat(),
            "first_repayment_date": _iso(first_repayment_date),
            "features": dict(features),
        }
        return self._post(_APPLICATION, "/v1/applications", body, idempotency_key)

    def applications(
        self,
        *,
        status: str | None = None,
        borrower_id: str | None = None,
        product_id: str | None = None,
        decision_hint: DecisionHint | None = None,
        grade: str | None = None,
        submitted_from: dt.datetime | None = None,
        submitted_to: dt.datetime | None = None,
        order: ListOrder = "newest",
        limit: int = 50,
        offset: int = 0,
    ) -> list[Application]:
        """Applications filtered (submitted in [``submitted_from``, ``submitted_to``)), in ``order``.

        The review queue is ``applications(status="scored", order="oldest")``.
        """
        params = {
            "status": status,
            "borrower_id": borrower_id,
            "product_id": product_id,
            "decision_hint": decision_hint,
            "grade": grade,
            "submitted_from": _iso(submitted_from),
            "submitted_to": _iso(submitted_to),
            "order": order,
            "limit": limit,
            "offset": offset,
        }
        return self._get(_APPLICATIONS, "/v1/applications", params)

    def application(self, application_id: str) -> Application:
        """One application with its score, decision and allowed actions."""
        return self._get(_APPLICATION, f"/v1/applications/{_segment(application_id)}")

    def approve_application(
        self, application_id: str, *, note: str | None = None, idempotency_key: str
    ) -> Loan:
        """Approve (a 403 when maker-checker refuses this person); the answer is the new loan."""
        path = f"/v1/applications/{_segment(application_id)}/approve"
        return self._post(_LOAN, path, _note(note), idempotency_key)

    def reject_application(
        self, application_id: str, *, note: str | None = None, idempotency_key: str
    ) -> Application:
        """Reject; the answer carries the adverse-action reasons."""
        path = f"/v1/applications/{_segment(application_id)}/reject"
        return self._post(_APPLICATION, path, _note(note), idempotency_key)

    def withdraw_application(
        self, application_id: str, *, note: str | None = None, idempotency_key: str
    ) -> Application:
        """Withdraw an application that is not decided yet."""
        path = f"/v1/applications/{_segment(application_id)}/withdraw"
        return self._post(_APPLICATION, path, _note(note), idempotency_key)

    # Loans

    def loans(
        self, *, status: str | None = None, borrower_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[Loan]:
        """Loans, newest first, with their stored state."""
        params = {"status": status, "borrower_id": borrower_id, "limit": limit, "offset": offset}
        return self._get(_LOANS, "/v1/loans", params)

    def loan(self, loan_id: str) -> Loan:
        """A loan as of the business date."""
        return self._get(_LOAN, f"/v1/loans/{_segment(loan_id)}")

    def loan_schedule(self, loan_id: str) -> LoanSchedule:
        """A loan's schedule with what is paid, outstanding and overdue on each row."""
        return self._get(_SCHEDULE, f"/v1/loans/{_segment(loan_id)}/schedule")

    def loan_transactions(self, loan_id: str) -> list[Transaction]:
        """Every transaction on a loan in recording order, with current allocations."""
        return self._get(_TRANSACTIONS, f"/v1/loans/{_segment(loan_id)}/transactions")

    def disburse_loan(self, loan_id: str, *, on: dt.date, idempotency_key: str) -> Loan:
        """Disburse an approved loan on ``on`` (not after the business date)."""
        path = f"/v1/loans/{_segment(loan_id)}/disburse"
        return self._post(_LOAN, path, {"date": on.isoformat()}, idempotency_key)

    def post_repayment(
        self,
        loan_id: str,
        *,
        amount_minor: int,
        on: dt.date,
        external_id: str,
        source: RepaymentSource = "borrower",
        idempotency_key: str,
    ) -> Transaction:
        """Post a repayment; the same ``external_id`` on the loan returns the first one again."""
        body = {
            "amount_minor": amount_minor,
            "date": on.isoformat(),
            "external_id": external_id,
            "source": source,
        }
        return self._post(_TRANSACTION, f"/v1/loans/{_segment(loan_id)}/repayments", body, idempotency_key)

    # Operations

    def portfolio_par(self, *, as_of: dt.date | None = None) -> ParReport:
        """PAR1/30/90 per currency and product (default: as of the business date)."""
        params = {"as_of": _iso(as_of)}
        return self._get(_PAR, "/v1/portfolio/par", params)

    def portfolio_par_csv(self, *, as_of: dt.date | None = None) -> str:
        """The PAR report as loans' CSV (one line per product, an ``ALL`` line per currency)."""
        params = _drop_none({"as_of": _iso(as_of)})
        response = self.request("GET", "/v1/portfolio/par.csv", params=params)
        if not response.headers.get("content-type", "").startswith("text/csv"):
            raise self._unexpected("GET /v1/portfolio/par.csv", ValueError("the answer is not text/csv"))
        return response.text

    def business_date(self) -> BusinessDate:
        """The business date loans run on."""
        return self._get(_BUSINESS_DATE, "/v1/business-date")

    def move_business_date(self, to: dt.date, *, idempotency_key: str) -> BusinessDate:
        """Move the business date forward to ``to`` (admin; at most loans' configured days a call,
        back only by a correction: loans' 422)."""
        return self._post(_BUSINESS_DATE, "/v1/business-date", {"date": to.isoformat()}, idempotency_key)

    def close_of_business(self, on: dt.date | None = None, *, idempotency_key: str) -> Job:
        """Queue close of business up to ``on`` (default: the business date; admin): the job to
        poll with ``job``. The same key answers the same job; a re-run changes nothing."""
        body = None if on is None else {"date": on.isoformat()}
        return self._post(_JOB, "/v1/close-of-business", body, idempotency_key)

    def job(self, job_id: str) -> Job:
        """A job of loans (admin, auditor)."""
        return self._get(_JOB, f"/v1/jobs/{_segment(job_id)}")

    def reconcile_proceeds(self, *, limit: int = 50, offset: int = 0) -> ProceedsReconciliation:
        """A page of loans' sale-proceeds repayments and refunds against escrow's sweeps (auditor,
        admin; at most 200 loans a page). When escrow is out of loans' reach loans answers 503,
        raised here (after the retries) as ``ServiceUnreachable``."""
        params = {"limit": limit, "offset": offset}
        return self._get(_RECONCILIATION, "/v1/reconciliation/proceeds", params)
