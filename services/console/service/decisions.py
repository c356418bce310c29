"""The decision explorer and a decision's page: search scoring's decisions, show one with its
points and reasons, verify its receipt in the console, replay it.

The receipt is verified here, with ``shared.receipts`` and the keys scoring publishes
(``GET /v1/keys``), never by asking scoring whether it is valid: an auditor's check must not
depend on the service it checks. Verification reads scoring's answer as JSON exactly as sent
(floats as parsed from it), because the answer's fields are compared with the signed ones.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

from services.console.domain import receipts as wording
from services.console.pages import N_
from shared.clients.scoring import ScoringClient
from shared.http_client import UpstreamProblem
from shared.receipts import check_score_document

PAGE_SIZE = 25
"""Decisions per explorer page."""

HINTS: tuple[tuple[str, str], ...] = (
    ("approve", N_("approve")),
    ("review", N_("review")),
    ("decline", N_("decline")),
)
HINT_LABELS = dict(HINTS)
FILTERS = ("subject_id", "segment", "model_version", "decision_hint", "date_from", "date_to")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,100}$")


def _path(score_id: str) -> str:
    return f"/v1/scores/{quote(score_id, safe='')}"


def _json(scoring: ScoringClient, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """Scoring's JSON answer (a 502 problem when it is not a JSON object)."""
    response = scoring.request(method, path, **kwargs)
    try:
        body = response.json()
    except ValueError as exc:
        raise UpstreamProblem(502, {"title": "Bad Gateway", "detail": f"{path}: not JSON ({exc})"}) from None
    if not isinstance(body, dict):
        raise UpstreamProblem(502, {"title": "Bad Gateway", "detail": f"{path}: not a JSON object"})
    return body


def _moment(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


# --- the explorer -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Search:
    """The explorer's filters as scoring's query parameters, or the fields that are not valid."""

    params: dict[str, str]
    errors: dict[str, str]


def parse_filters(values: dict[str, str]) -> Search:
    """Scoring's ``GET /v1/scores`` parameters from the form's values (dates are whole UTC days)."""
    params: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name in ("subject_id", "segment", "model_version"):
        if values.get(name):
            params[name] = values[name]
    if values.get("decision_hint"):
        if values["decision_hint"] in HINT_LABELS:
            params["decision_hint"] = values["decision_hint"]
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
        params["scored_from"] = datetime.combine(days["date_from"], time.min, UTC).isoformat()
    if "date_to" in days:
        if "date_from" in days and days["date_to"] < days["date_from"]:
            errors["date_to"] = N_("The last day comes before the first day.")
        elif days["date_to"] == date.max:
            errors["date_to"] = N_("Not a date: write it as YYYY-MM-DD.")
        else:
            end = datetime.combine(days["date_to"] + timedelta(days=1), time.min, UTC)
            params["scored_to"] = end.isoformat()
    return Search(params, errors)


@dataclass(frozen=True)
class Row:
    """One decision in the explorer's list."""

    id: str
    subject_id: str
    segment: str
    model_version: str
    score: float
    grade: str
    pd: float
    decision_hint: str
    created_at: datetime | None


@dataclass(frozen=True)
class Explorer:
    """A page of decisions, newest first, and the choices of the filter form."""

    rows: list[Row]
    has_next: bool
    segments: list[tuple[str, str]]
    versions: list[tuple[str, str]]


def _row(score: dict[str, Any]) -> Row:
    return Row(
        id=str(score["id"]),
        subject_id=str(score["subject_id"]),
        segment=str(score["segment"]),
        model_version=str(score["model_version"]),
        score=float(score["score"]),
        grade=str(score["grade"]),
        pd=float(score["pd"]),
        decision_hint=str(score["decision_hint"]),
        created_at=_moment(score.get("created_at")),
    )


def filter_choices(scoring: ScoringClient) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The segments and model versions scoring knows, as ``(value, text)`` options."""
    segments = _json(scoring, "GET", "/v1/segments").get("segments", [])
    models = _json(scoring, "GET", "/v1/models", params={"limit": 500}).get("models", [])
    return (
        [(str(s["segment"]), str(s["segment"])) for s in segments],
        [(str(m["version"]), f"{m['version']} ({m['status']})") for m in models],
    )


def explore(scoring: ScoringClient, search: Search, *, page: int, language: str) -> Explorer:
    """One page of the decisions that match (none asked for when a filter is not valid)."""
    segments, versions = filter_choices(scoring)
    if search.errors:
        return Explorer([], False, segments, versions)
    params: dict[str, Any] = {
        **search.params,
        "limit": PAGE_SIZE + 1,
        "offset": (page - 1) * PAGE_SIZE,
        "lang": language,
    }
    scores = _json(scoring, "GET", "/v1/scores", params=params).get("scores", [])
    return Explorer([_row(s) for s in scores[:PAGE_SIZE]], len(scores) > PAGE_SIZE, segments, versions)


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

    decision: dict[str, Any]
    scored_at: datetime | None
    hint_label: str
    contributions: list[dict[str, Any]]
    receipt: dict[str, Any]
    receipt_json: str
    payload_json: str
    waterfall: str | None


def get_decision(scoring: ScoringClient, score_id: str, *, language: str) -> dict[str, Any]:
    """A stored decision as scoring answers it (reason texts in ``language``)."""
    return _json(scoring, "GET", _path(score_id), params={"lang": language})


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
            if local.startswith("on") or local == "href" or local == "style":
                return None
    return text[text.index("<svg") :]


def waterfall(scoring: ScoringClient, score_id: str, *, language: str) -> str | None:
    """Scoring's waterfall chart of a decision, as SVG to inline (None when it is not safe to)."""
    response = scoring.request("GET", f"{_path(score_id)}/waterfall.svg", params={"lang": language})
    return safe_svg(response.text)


def decision_page(scoring: ScoringClient, score_id: str, *, language: str) -> DecisionPage:
    """A decision with its points, reasons, receipt and waterfall."""
    decision = get_decision(scoring, score_id, language=language)
    receipt = decision.get("receipt")
    receipt = receipt if isinstance(receipt, dict) else {}
    return DecisionPage(
        decision=decision,
        scored_at=_moment(decision.get("created_at")),
        hint_label=HINT_LABELS.get(str(decision.get("decision_hint")), str(decision.get("decision_hint"))),
        contributions=[
            {
                "feature": c.get("feature"),
                "value": wording.shown_value(c.get("value")),
                "points": c.get("points"),
            }
            for c in decision.get("contributions", [])
        ],
        receipt=receipt,
        receipt_json=wording.pretty_receipt(receipt),
        payload_json=wording.pretty_payload(str(receipt.get("payload", ""))),
        waterfall=waterfall(scoring, score_id, language=language),
    )


def published_keys(scoring: ScoringClient) -> dict[str, Any]:
    """The receipt verification keys scoring publishes (``GET /v1/keys``), as sent."""
    return _json(scoring, "GET", "/v1/keys")


def receipt_of(scoring: ScoringClient, score_id: str) -> dict[str, Any]:
    """A decision's receipt exactly as scoring signed it."""
    receipt = get_decision(scoring, score_id, language="en").get("receipt")
    if not isinstance(receipt, dict):
        raise UpstreamProblem(502, {"title": "Bad Gateway", "detail": "the decision carries no receipt"})
    return receipt


def verify(scoring: ScoringClient, score_id: str) -> Verification:
    """Verify a decision's receipt here: its Ed25519 signature against the published keys, then
    that the decision scoring shows is the one it signed."""
    document = get_decision(scoring, score_id, language="en")
    check = check_score_document(document, published_keys(scoring))
    return Verification(check.valid, check.reason, wording.explain(check.reason), check.key_id)


def replay_key(posted: str | None) -> str:
    """The form's idempotency key when it is one (a double submit replays once), else a new one."""
    return posted if posted and _TOKEN.match(posted) else new_idempotency_key()


def new_idempotency_key() -> str:
    """A fresh key for a form that asks scoring to act."""
    return uuid.uuid4().hex


def replay(scoring: ScoringClient, score_id: str, *, idempotency_key: str) -> Replay:
    """Scoring re-scores the decision with its stored model version and compares (audited there)."""
    answer = _json(scoring, "POST", f"{_path(score_id)}/replay", idempotency_key=idempotency_key)
    differences = [
        {
            "field": str(d.get("field")),
            "original": wording.shown_value(d.get("original")),
            "replayed": wording.shown_value(d.get("replayed")),
        }
        for d in answer.get("differences", [])
        if isinstance(d, dict)
    ]
    return Replay(
        bool(answer.get("identical")) and not differences, str(answer.get("model_version")), differences
    )


def attachment(body: dict[str, Any]) -> bytes:
    """A JSON document to download (UTF-8, indented)."""
    return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode()
