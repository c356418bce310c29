"""The application form generated from a segment's feature spec, and the score card (pure).

A segment's spec (scoring's ``GET /v1/segments/{segment}``) says each feature's type,
bounds, categories, unit, and reason texts in English and Chinese; the labels people read are
the console's catalogue messages (``domain.feature_labels``). From it the console builds one
form field per feature (``features.<name>``, the name loans and scoring use in their 422
problems, so a refused value comes back beside its own field), parses what the person typed
(numbers with ``Decimal``, never float for money), and shapes a stored decision into the
score card: score, grade, PD, base points, every feature's points, and the principal reasons.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from services.console.domain.catalogue import N_
from services.console.domain.feature_labels import category_label, feature_label, unit_label
from services.console.domain.forms import field_errors
from shared.money import Money, minor_exponent

FEATURE_PREFIX = "features."
MAX_REASONS = 4
"""A score card lists at most four principal reasons."""

STATUSES = ("pending_score", "scored", "score_failed", "approved", "rejected", "withdrawn")
STATUS_LABELS = {
    "pending_score": N_("Waiting for a score"),
    "scored": N_("Scored, waiting for a decision"),
    "score_failed": N_("Scoring failed"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
}
TYPE_LABELS = {"farmer": N_("Farmer"), "enterprise": N_("Enterprise")}
"""Borrower types (and the scoring segments of the same names)."""
HINTS = ("approve", "review", "decline")
HINT_LABELS = {"approve": N_("Approve"), "review": N_("Review"), "decline": N_("Decline")}
GRADES = ("A", "B", "C", "D", "E")

RULE_LABELS = {
    "auto_decline_below_score": N_("Score at or above the decline threshold"),
    "auto_approve_min_score": N_("Score at or above the approval threshold"),
    "auto_approve_max_principal_minor": N_("Amount within the automatic approval ceiling"),
    "max_days_past_due": N_("Borrower's loans within the days-past-due limit"),
    "max_open_loans": N_("Borrower's open loans within the limit"),
    "review_when_feature_defaulted": N_("No feature was defaulted"),
    "review_on_challenger_disagreement": N_("No challenger model disagreed with the champion"),
}
"""The rules of loans' decision policies, in plain words (a rule not listed shows its name)."""
RULE_FIGURES = {
    "auto_decline_below_score": "score",
    "auto_approve_min_score": "score",
    "auto_approve_max_principal_minor": "money",
    "max_days_past_due": "days",
    "max_open_loans": "loans",
    "review_when_feature_defaulted": "defaulted",
    "review_on_challenger_disagreement": "challenger",
}
"""How the page words each rule's ``value`` and ``limit`` (the template has one sentence per kind):
scores against a threshold, the principal against the ceiling as money, the worst days past due
and the open loans (this one included) against their limits, the number of defaulted features,
and a challenger's disagreement (no figures)."""
POLICY_OUTCOME_LABELS = {
    "approve": N_("Approved"),
    "decline": N_("Declined"),
    "review": N_("Sent to a person for review"),
}
POLICY_ACTOR_PREFIX = "policy:"


@dataclass(frozen=True)
class RuleFigures:
    """A policy rule's figures as the page words them; ``kind`` None: loans' detail instead
    (a rule the console does not know, or one decided before loans gave figures)."""

    kind: str | None
    value: Decimal | None = None
    limit: Decimal | None = None

    @property
    def value_text(self) -> str:
        """The value as people write it (``612.5``, ``3``)."""
        return "" if self.value is None else plain_number(self.value)

    @property
    def limit_text(self) -> str:
        """The limit as people write it."""
        return "" if self.limit is None else plain_number(self.limit)

    @property
    def value_minor(self) -> int:
        """The value as integer minor units (the principal rule's amount)."""
        return int(self.value or 0)

    @property
    def limit_minor(self) -> int:
        """The limit as integer minor units (the principal rule's ceiling)."""
        return int(self.limit or 0)


def rule_figures(rule: str, value: Decimal | None, limit: Decimal | None) -> RuleFigures:
    """How to word a rule's result from loans' ``value`` and ``limit``."""
    kind = RULE_FIGURES.get(rule)
    if kind is None:
        return RuleFigures(None)
    if kind == "challenger":
        return RuleFigures(kind)
    if value is None or limit is None:
        return RuleFigures(None)
    if kind == "money" and (value != value.to_integral_value() or limit != limit.to_integral_value()):
        return RuleFigures(None)  # minor units are whole; anything else is not for the money filter
    return RuleFigures(kind, value, limit)


def policy_version_of(actor: str) -> int | None:
    """The policy version in a deciding actor (``policy:<product id>:v<version>``), else None."""
    if not actor.startswith(POLICY_ACTOR_PREFIX):
        return None
    version = actor.rsplit(":", 1)[-1]
    return int(version[1:]) if version.startswith("v") and version[1:].isdigit() else None


TERM_FIELDS = (
    "product_id",
    "borrower_id",
    "principal",
    "annual_interest_rate",
    "number_of_repayments",
    "disbursement_date",
    "first_repayment_date",
)
"""The application form's fields besides the features."""

_UPSTREAM_NAMES = {"principal_minor": "principal"}
"""Loans' field names that the form calls differently (the form takes major units)."""


@dataclass(frozen=True)
class Problem:
    """A message for a field, with the values it names (translated where the page renders)."""

    message: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FeatureField:
    """One feature as a form field."""

    name: str
    kind: str
    """``numeric``, ``categorical`` or ``boolean``."""
    label: str
    """A catalogue message (translated where the page renders it)."""
    help: str | None
    required: bool
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    unit: str | None = None
    categories: tuple[tuple[str, str], ...] = ()
    """``(value, label)`` of each category, in the spec's order (labels are catalogue messages)."""

    @property
    def field(self) -> str:
        """The form field's name, as loans and scoring name the feature in their problems."""
        return FEATURE_PREFIX + self.name

    @property
    def low(self) -> str:
        """The lower bound as people write it ("…" when there is none)."""
        return "…" if self.minimum is None else plain_number(self.minimum)

    @property
    def high(self) -> str:
        """The upper bound as people write it ("…" when there is none)."""
        return "…" if self.maximum is None else plain_number(self.maximum)


def _decimal(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def plain_number(value: Decimal) -> str:
    """A bound as people write it: ``500``, ``0.5`` (no exponent, no trailing zeros)."""
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def feature_fields(spec: Mapping[str, Any]) -> list[FeatureField]:
    """The form fields of a segment's spec; labels, category labels and units are catalogue
    messages (``domain.feature_labels``), translated where the page renders them."""
    out: list[FeatureField] = []
    for item in spec.get("features") or []:
        if not isinstance(item, Mapping) or not item.get("name"):
            continue
        name = str(item["name"])
        kind = str(item.get("type") or "numeric")
        unit = str(item.get("unit") or "")
        out.append(
            FeatureField(
                name=name,
                kind=kind,
                label=feature_label(name),
                help=None,
                required=not bool(item.get("missing_allowed", False)),
                minimum=_decimal(item.get("min")),
                maximum=_decimal(item.get("max")),
                unit=unit_label(unit) if unit not in ("", "category", "flag") else None,
                categories=tuple((str(c), category_label(name, str(c))) for c in item.get("categories") or [])
                if kind == "categorical"
                else (),
            )
        )
    return out


def feature_labels(fields: Sequence[FeatureField]) -> dict[str, str]:
    """Feature name -> label."""
    return {f.name: f.label for f in fields}


# ---------------------------------------------------------------- parsing the form


def _number(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _json_number(value: Decimal) -> int | float:
    """A feature value as JSON carries it (scoring reads numbers; features are not money)."""
    return int(value) if value == value.to_integral_value() else float(value)


def parse_features(
    fields: Sequence[FeatureField], form: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, Problem]]:
    """The features the form gives (a blank optional one left out), and each field's problem."""
    values: dict[str, Any] = {}
    problems: dict[str, Problem] = {}
    for f in fields:
        raw = (form.get(f.field) or "").strip()
        if not raw:
            if f.required:
                problems[f.field] = Problem(N_("Required."))
            continue
        if f.kind == "boolean":
            if raw not in ("true", "false"):
                problems[f.field] = Problem(N_("Choose yes or no."))
            else:
                values[f.name] = raw == "true"
        elif f.kind == "categorical":
            if raw not in {value for value, _ in f.categories}:
                problems[f.field] = Problem(N_("Choose one of the listed values."))
            else:
                values[f.name] = raw
        else:
            number = _number(raw)
            if number is None:
                problems[f.field] = Problem(N_("Enter a number."))
            elif (f.minimum is not None and number < f.minimum) or (
                f.maximum is not None and number > f.maximum
            ):
                problems[f.field] = Problem(
                    N_("Must be between %(low)s and %(high)s."), {"low": f.low, "high": f.high}
                )
            else:
                values[f.name] = _json_number(number)
    return values, problems


def parse_principal(text: str, currency: str) -> int | Problem:
    """An amount typed in major units ("12,500.50") as integer minor units of ``currency``.

    More decimals than the currency has are refused, not rounded away."""
    value = _number(text or "")
    if value is None:
        return Problem(N_("Enter an amount, for example 12500.00."))
    if value <= 0:
        return Problem(N_("Must be more than zero."))
    digits = minor_exponent(currency)
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > digits:
        return Problem(
            N_("At most %(digits)s decimal places in %(currency)s."), {"digits": digits, "currency": currency}
        )
    return Money.from_major(value, currency).minor


def parse_rate(text: str) -> Decimal | Problem:
    """An annual interest rate in percent."""
    value = _number(text or "")
    if value is None:
        return Problem(N_("Enter a rate in percent, for example 18."))
    if value < 0:
        return Problem(N_("Must not be negative."))
    return value


def parse_count(text: str) -> int | Problem:
    """A whole number of repayments."""
    value = _number(text or "")
    if value is None or value != value.to_integral_value() or value < 1:
        return Problem(N_("Enter a whole number, 1 or more."))
    return int(value)


def parse_day(text: str, *, required: bool) -> date | Problem | None:
    """A date typed as YYYY-MM-DD (a date input sends that)."""
    raw = (text or "").strip()
    if not raw:
        return Problem(N_("Required.")) if required else None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return Problem(N_("Enter a date as YYYY-MM-DD."))


@dataclass(frozen=True)
class Terms:
    """The loan the form asks for, parsed."""

    principal_minor: int
    annual_interest_rate: Decimal
    number_of_repayments: int
    disbursement_date: date
    first_repayment_date: date | None


def parse_terms(values: Mapping[str, str], currency: str) -> Terms | dict[str, Problem]:
    """The form's terms (the principal in ``currency``'s minor units), or each field's problem."""
    principal = parse_principal(values.get("principal", ""), currency)
    rate = parse_rate(values.get("annual_interest_rate", ""))
    count = parse_count(values.get("number_of_repayments", ""))
    disbursement = parse_day(values.get("disbursement_date", ""), required=True)
    first = parse_day(values.get("first_repayment_date", ""), required=False)
    if (
        isinstance(principal, int)
        and isinstance(rate, Decimal)
        and isinstance(count, int)
        and isinstance(disbursement, date)
        and not isinstance(first, Problem)
    ):
        return Terms(principal, rate, count, disbursement, first)
    parsed = {
        "principal": principal,
        "annual_interest_rate": rate,
        "number_of_repayments": count,
        "disbursement_date": disbursement,
        "first_repayment_date": first,
    }
    return {name: value for name, value in parsed.items() if isinstance(value, Problem)}


def form_problems(problem: Mapping[str, Any], known: Sequence[str]) -> dict[str, str]:
    """A loans or scoring problem as messages beside the form's fields.

    ``principal_minor`` is the form's ``principal``; a field the form does not have (or
    none) is said at the top of the form (under ``""``)."""
    out: dict[str, str] = {}
    for name, message in field_errors(dict(problem)).items():
        name = _UPSTREAM_NAMES.get(name, name)
        target = name if name in known else ""
        text = message if target or not name else f"{name}: {message}"
        out[target] = f"{out[target]}; {text}" if target in out else text
    return out


# ---------------------------------------------------------------- the score card


@dataclass(frozen=True)
class PointsRow:
    """One feature's value and the points it added (+) or cost (-)."""

    feature: str
    label: str
    value: Any
    points: int
    """The printable integer points (they add up with the base to the integer score)."""


@dataclass(frozen=True)
class Reason:
    """A principal reason in plain words."""

    code: str
    text: str
    feature: str | None = None
    points: int | None = None
    """The reason's printable integer points (None where the record kept none)."""


@dataclass(frozen=True)
class ScoreCard:
    """What the application page shows of a stored decision."""

    id: str
    score: int
    grade: str
    pd: Decimal
    base_points: int
    decision_hint: str
    model_version: str
    rows: tuple[PointsRow, ...]
    reasons: tuple[Reason, ...]


def reasons_from(items: Any, *, limit: int = MAX_REASONS) -> tuple[Reason, ...]:
    """Reason codes (scoring's or loans' JSON shape) as plain-word reasons, at most ``limit``."""
    out: list[Reason] = []
    for data in items or []:
        if not isinstance(data, Mapping):
            continue
        code = str(data.get("code") or "")
        if not code:
            continue
        points = data.get("integer_points")
        whole = points if isinstance(points, int) and not isinstance(points, bool) else None
        out.append(Reason(code, str(data.get("text") or code), data.get("feature"), whole))
    return tuple(out[:limit])


def score_card(decision: Mapping[str, Any], labels: Mapping[str, str]) -> ScoreCard:
    """A stored decision (``GET /v1/scores/{id}``) as a score card; labels by feature name."""
    rows = tuple(
        PointsRow(
            feature=str(c["feature"]),
            label=labels.get(str(c["feature"])) or feature_label(str(c["feature"])),
            value=c.get("value"),
            points=int(c["integer_points"]),
        )
        for c in decision.get("contributions") or []
        if isinstance(c, Mapping) and c.get("feature")
    )
    return ScoreCard(
        id=str(decision["id"]),
        score=int(decision["integer_score"]),
        grade=str(decision.get("grade") or ""),
        pd=_decimal(decision.get("pd")) or Decimal(0),
        base_points=int(decision["integer_base_points"]),
        decision_hint=str(decision.get("decision_hint") or ""),
        model_version=str(decision.get("model_version") or ""),
        rows=rows,
        reasons=reasons_from(decision.get("reasons")),
    )


def shown_value(value: Any) -> str:
    """A feature's input value as the points table shows it (blank for a missing one)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return N_("Yes") if value else N_("No")
    if isinstance(value, float):
        return plain_number(Decimal(str(value)))
    return str(value)


def reasons_in_language(adverse: Sequence[Mapping[str, Any]], texts: Mapping[str, str]) -> tuple[Reason, ...]:
    """Adverse-action reasons with the text of each code in the person's language when
    ``texts`` (code -> text, from scoring) has it, else the text loans stored, else the code."""
    return tuple(
        Reason(str(r["code"]), texts.get(str(r["code"])) or str(r.get("text") or r["code"]), r.get("feature"))
        for r in adverse
        if r.get("code")
    )


_UNSAFE_SVG = re.compile(r"<\s*(script|foreignobject|iframe|object|embed)|\bon\w+\s*=|javascript:", re.I)


def inline_svg(text: str) -> str | None:
    """An SVG document fit to put into a page as it is, or None.

    The waterfall comes from scoring, which escapes every text it draws; this refuses
    anything with script, event handlers or embedded documents all the same."""
    body = re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", text or "")
    if not body.lstrip().startswith("<svg") or not body.rstrip().endswith("</svg>"):
        return None
    if _UNSAFE_SVG.search(body):
        return None
    return body.strip()


def age_days(submitted_at: datetime, now: datetime) -> int:
    """Whole days since an application was submitted (0 on the day itself)."""
    return max(0, (now - submitted_at).days)
