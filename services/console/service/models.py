"""The model registry pages' data: each segment's versions, champion and champion history
(who promoted what, when), and one version's detail with its model card as sections."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from services.console.pages import N_
from shared.clients.scoring import ScoringClient
from shared.http_client import UpstreamProblem

METRICS: tuple[str, ...] = ("auc", "gini", "ks", "brier", "log_loss")
METRIC_LABELS = {
    "auc": N_("AUC"),
    "gini": N_("Gini"),
    "ks": N_("KS"),
    "brier": N_("Brier score"),
    "log_loss": N_("Log loss"),
}
STATUS_LABELS = {"champion": N_("champion"), "challenger": N_("challenger"), "retired": N_("retired")}
CARD_SECTIONS: tuple[tuple[str, str], ...] = (
    ("model", N_("Model")),
    ("intended_use", N_("Intended use")),
    ("out_of_scope_use", N_("Out-of-scope use")),
    ("data", N_("Data")),
    ("metrics", N_("Metrics")),
    ("calibration", N_("Calibration")),
    ("score_scale", N_("Score scale")),
    ("grades", N_("Grades")),
    ("monotone_constraints", N_("Monotone constraints")),
    ("top_drivers", N_("Top drivers")),
    ("limitations", N_("Limitations")),
)
"""The card's sections in reading order, with their headings; others follow under their own name."""
_CARD_HEADER = ("version", "status", "created_at")
PROMOTIONS_SHOWN = 50
_PERSON = re.compile(r"^person:([^:]+):([a-z_]+):via:")


@dataclass(frozen=True)
class Actor:
    """Who did something: the service's actor string, and the person it names, if any."""

    actor: str
    username: str | None
    role: str | None


def actor_view(actor: str) -> Actor:
    """``person:bob:credit_manager:via:k1`` -> bob, credit_manager; a key's actor as it is."""
    found = _PERSON.match(actor)
    return Actor(actor, found.group(1), found.group(2)) if found else Actor(actor, None, None)


@dataclass(frozen=True)
class Promotion:
    """A version made champion."""

    version: str
    previous_version: str | None
    promoted_at: datetime | None
    by: Actor


@dataclass(frozen=True)
class Segment:
    """A segment's versions (newest first), champion and champion history (newest first)."""

    segment: str
    description: str
    champion_version: str | None
    models: list[dict[str, Any]]
    promotions: list[Promotion]
    more_promotions: bool


@dataclass(frozen=True)
class CardSection:
    """One section of a model card: its heading and its value (rendered whatever its shape)."""

    title: str
    value: Any


@dataclass(frozen=True)
class ModelPage:
    """A version's registry entry, its promotions and its card."""

    model: dict[str, Any]
    created_at: datetime | None
    created_by: Actor
    status_label: str
    promotions: list[Promotion]
    card_sections: list[CardSection]
    card_problem: str | None


def _json(scoring: ScoringClient, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    response = scoring.request("GET", path, params=params)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise UpstreamProblem(502, {"title": "Bad Gateway", "detail": f"{path}: not a JSON object"})
    return body


def _moment(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


def _model(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        **entry,
        "created_at": _moment(entry.get("created_at")),
        "test_metrics": dict(entry.get("test_metrics") or {}),
    }


def _promotion(entry: dict[str, Any]) -> Promotion:
    return Promotion(
        version=str(entry["version"]),
        previous_version=entry.get("previous_version"),
        promoted_at=_moment(entry.get("promoted_at")),
        by=actor_view(str(entry.get("promoted_by", ""))),
    )


def registry(scoring: ScoringClient) -> list[Segment]:
    """Every segment with its versions, its champion and its latest promotions."""
    segments = _json(scoring, "/v1/segments").get("segments", [])
    models = [_model(m) for m in _json(scoring, "/v1/models", {"limit": 500}).get("models", [])]
    out = []
    for seg in segments:
        name = str(seg["segment"])
        history = _json(
            scoring, f"/v1/segments/{quote(name, safe='')}/champions", {"limit": PROMOTIONS_SHOWN}
        )
        out.append(
            Segment(
                segment=name,
                description=str(seg.get("description") or ""),
                champion_version=history.get("champion_version") or seg.get("champion_version"),
                models=[m for m in models if m.get("segment") == name],
                promotions=[_promotion(p) for p in history.get("promotions", [])],
                more_promotions=history.get("next_offset") is not None,
            )
        )
    return out


def card_sections(card: dict[str, Any]) -> list[CardSection]:
    """A model card's sections in reading order (known ones first, any others after)."""
    known = dict(CARD_SECTIONS)
    ordered = [key for key, _ in CARD_SECTIONS if key in card]
    ordered += [key for key in card if key not in known and key not in _CARD_HEADER]
    return [CardSection(known.get(key, key), card[key]) for key in ordered]


def model_page(scoring: ScoringClient, version: str) -> ModelPage:
    """A version's registry entry, every time it became champion, and its model card."""
    path = f"/v1/models/{quote(version, safe='')}"
    detail = _model(_json(scoring, path))
    problem: str | None = None
    try:
        sections = card_sections(_json(scoring, f"{path}/card"))
    except UpstreamProblem as exc:  # the entry stands even when its artifact cannot be read
        sections, problem = [], str(exc.problem.get("detail") or exc.problem.get("title") or "")
    status = str(detail.get("status"))
    return ModelPage(
        model=detail,
        created_at=detail["created_at"],
        created_by=actor_view(str(detail.get("created_by", ""))),
        status_label=STATUS_LABELS.get(status, status),
        promotions=[_promotion(p) for p in detail.get("promotions", [])],
        card_sections=sections,
        card_problem=problem,
    )
