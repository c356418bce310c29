"""The decision explorer and a decision's page: search scoring's decisions, show one with its
points and reasons, verify its receipt in the console, replay it.

The receipt is verified here (``shared.clients.scoring.verify_decision``, which is
``shared.receipts``) against the keys scoring publishes (``GET /v1/keys``), never by asking
scoring whether it is valid: an auditor's check must not depend on the service it checks.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast
from xml.etree import ElementTree

from services.console.domain import receipts as wording
from services.console.domain.paging import PAGE_SIZE
from services.console.pages import N_
from shared.clients.scoring import (
    Hint,
    Language,
    Receipt,
    ScoreDecision,
    ScoreFilters,
    ScoringClient,
    verify_decision,
)

"""Decisions per explorer page."""

HINTS: tuple[tuple[str, str], ...] = (
    ("approve", N_("approve")),
    ("review", N_("review")),
    ("decline", N_("decline")),
)
HINT_LABELS = dict(HINTS)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,100}$")


def language_of(language: str) -> Language:
    """A person's language as scoring takes it (English unless Chinese)."""
    return "zh" if language == "zh" else "en"


# --- the explorer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Search:
    """The explorer's filters as scoring takes them, or the fields that are not valid."""

    filters: ScoreFilters
    errors: dict[str, str]


def parse_filters(values: dict[str, str]) -> Search:
    """The filters of scoring's ``GET /v1/scores`` from the form's values (dates: whole UTC days)."""
    params: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in ("subject_id", "segment", "model_version"):
        if values.get(name):
            params[name] = values[name]
    if values.get("decision_hint"):
        if values["decision_hint"] in HINT_LABELS:
            params["decision_hint"] = cast(Hint, values["decision_hint"])
        else:
            errors["decision_hint"] = N_("Choose approve, review or decline.")
    days: dict[str, date] = {}
    for name in ("date_from", "date_to"):
        if values.get(name):
            try:
                days[name] = date.fromisoformat(values[name])
            except ValueError:
                errors[name] = N_("Not a date: write it as YYYY-MM-DD.")
    if "date_from" in days:
        params["scored_from"] = datetime.combine(days["date_from"], time.min, UTC)
    if "date_to" in days:
        if "date_from" in days and days["date_to"] < days["date_from"]:
            errors["date_to"] = N_("The last day comes before the first day.")
        elif days["date_to"] == date.max:
            errors["date_to"] = N_("Not a date: write it as YYYY-MM-DD.")
        else:
            params["scored_to"] = datetime.combine(days["date_to"] + timedelta(days=1), time.min, UTC)
    return Search(ScoreFilters(**params), errors)


@dataclass(frozen=True)
class Explorer:
    """A page of decisions, newest first, and the choices of the filter form."""

    rows: list[ScoreDecision]
    has_next: bool
    segments: list[tuple[str, str]]
    versions: list[tuple[str, str]]


def filter_choices(scoring: ScoringClient) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The segments and model versions scoring knows, as ``(value, text)`` options."""
    return (
        [(s.segment, s.segment) for s in scoring.segments()],
        [(m.version, m.version) for m in scoring.models(limit=500)],
    )


def explore(scoring: ScoringClient, search: Search, *, page: int, language: str) -> Explorer:
    """One page of the decisions that match (none asked for when a filter is not valid)."""
    segments, versions = filter_choices(scoring)
    if search.errors:
        return Explorer([], False, segments, versions)
    found = scoring.list_scores(
        search.filters, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE, lang=language_of(language)
    )
    return Explorer(found.scores[:PAGE_SIZE], len(found.scores) > PAGE_SIZE, segments, versions)


# --- one decision -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """The console's verdict on a receipt: valid or not, the checker's reason and its meaning."""

    valid: bool
    reason: str
    explanation: str | None
    key_id: str | None


@dataclass(frozen=True)
class Replay:
    """Scoring's replay of a decision: identical, or each difference as text."""

    identical: bool
    model_version: str
    differences: list[dict[str, str]]


@dataclass(frozen=True)
class DecisionPage:
    """What the decision page shows."""

    decision: ScoreDecision
    hint_label: str
    values: list[str]
    """Each contribution's input value as text, in the order of ``decision.contributions``."""
    receipt_json: str
    payload_json: str
    waterfall: str | None


def safe_svg(text: str) -> str | None:
    """``text`` when it is an SVG document with nothing active in it (scripts, event handlers,
    foreign content, links), so that it may be inlined; None otherwise."""
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        return None
    try:  # no DTD, so no entity can expand (what defusedxml guards against)
        root = ElementTree.fromstring(text)  # noqa: S314
    except ElementTree.ParseError:
        return None
    if root.tag != "{http://www.w3.org/2000/svg}svg":
        return None
    for element in root.iter():
        name = element.tag.rsplit("}", 1)[-1].lower()
        if name in ("script", "foreignobject", "a", "use", "image", "iframe", "animate", "set"):
            return None
        for attribute in element.attrib:
            local = attribute.rsplit("}", 1)[-1].lower()
            if local.startswith("on") or local in ("href", "style"):
                return None
    return text[text.index("<svg") :]


def decision_page(scoring: ScoringClient, score_id: str, *, language: str) -> DecisionPage:
    """A decision with its points, reasons (in ``language``), receipt and waterfall."""
    lang = language_of(language)
    decision = scoring.get_score(score_id, lang=lang)
    return DecisionPage(
        decision=decision,
        hint_label=HINT_LABELS.get(decision.decision_hint, decision.decision_hint),
        values=[wording.shown_value(c.value) for c in decision.contributions],
        receipt_json=wording.pretty_receipt(decision.receipt.model_dump()),
        payload_json=wording.pretty_payload(decision.receipt.payload),
        waterfall=safe_svg(scoring.waterfall_svg(decision.id, lang=lang)),
    )


def published_keys(scoring: ScoringClient) -> dict[str, Any]:
    """The receipt verification keys scoring publishes (``GET /v1/keys``)."""
    return scoring.keys().document()


def receipt_of(scoring: ScoringClient, score_id: str) -> Receipt:
    """A decision's receipt exactly as scoring signed it (the payload is the signed string)."""
    return scoring.get_score(score_id).receipt


def verify(scoring: ScoringClient, score_id: str) -> Verification:
    """Verify a decision's receipt here: its Ed25519 signature against the published keys, then
    that the decision scoring shows is the one it signed."""
    check = verify_decision(scoring.get_score(score_id), scoring.keys())
    return Verification(check.valid, check.reason, wording.explain(check.reason), check.key_id)


def replay_key(posted: str | None) -> str:
    """The form's idempotency key when it is one (a double submit replays once), else a new one."""
    return posted if posted and _TOKEN.match(posted) else new_idempotency_key()


def new_idempotency_key() -> str:
    """A fresh key for a form that asks scoring to act."""
    return uuid.uuid4().hex


def replay(scoring: ScoringClient, score_id: str, *, idempotency_key: str) -> Replay:
    """Scoring re-scores the decision with its stored model version and compares (audited there)."""
    answer = scoring.replay(score_id, idempotency_key=idempotency_key)
    differences = [
        {
            "field": d.field,
            "original": wording.shown_value(d.original),
            "replayed": wording.shown_value(d.replayed),
        }
        for d in answer.differences
    ]
    return Replay(answer.identical and not differences, answer.model_version, differences)


def attachment(body: dict[str, Any]) -> bytes:
    """A JSON document to download (UTF-8, indented)."""
    return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode()
