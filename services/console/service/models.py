"""The model registry pages' data: each segment's versions, champion and champion history
(who promoted what, when), and one version's detail with its model card as sections — its
performance section apart, with scoring's chart of it in the person's language."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.console.domain.scorecard import inline_svg
from services.console.pages import N_
from shared.clients.scoring import CardPerformance, Language, ModelDetail, ModelSummary, ScoringClient
from shared.clients.scoring import Promotion as Promoted
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
_CARD_APART = ("performance",)
"""Sections the page shows in their own place (how the version's loans performed, with its chart)."""
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
    promoted_at: datetime
    by: Actor


@dataclass(frozen=True)
class Segment:
    """A segment's versions (newest first), champion and champion history (newest first)."""

    segment: str
    description: str
    champion_version: str | None
    models: list[ModelSummary]
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

    model: ModelDetail
    created_by: Actor
    status_label: str
    promotions: list[Promotion]
    card_sections: list[CardSection]
    card_problem: str | None
    performance: CardPerformance | None = None
    performance_chart: str | None = None
    """Scoring's chart of ``performance`` (SVG fit to inline), None when it gave none."""


def _promotion(entry: Promoted) -> Promotion:
    return Promotion(entry.version, entry.previous_version, entry.promoted_at, actor_view(entry.promoted_by))


def registry(scoring: ScoringClient) -> list[Segment]:
    """Every segment with its versions, its champion and its latest promotions."""
    models = scoring.models(limit=500)
    out = []
    for seg in scoring.segments():
        history = scoring.champion_history(seg.segment, limit=PROMOTIONS_SHOWN)
        out.append(
            Segment(
                segment=seg.segment,
                description=seg.description,
                champion_version=history.champion_version,
                models=[m for m in models if m.segment == seg.segment],
                promotions=[_promotion(p) for p in history.promotions],
                more_promotions=history.next_offset is not None,
            )
        )
    return out


def card_sections(card: dict[str, Any]) -> list[CardSection]:
    """A model card's sections in reading order (known ones first, any others after)."""
    known = dict(CARD_SECTIONS)
    ordered = [key for key, _ in CARD_SECTIONS if key in card]
    ordered += [key for key in card if key not in known and key not in (*_CARD_HEADER, *_CARD_APART)]
    return [CardSection(known.get(key, key), card[key]) for key in ordered]


def _chart(scoring: ScoringClient, version: str, language: str) -> str | None:
    lang: Language = "zh" if language == "zh" else "en"
    try:
        return inline_svg(scoring.model_performance_svg(version, lang=lang))
    except UpstreamProblem:  # the table below the chart still says every figure
        return None


def model_page(scoring: ScoringClient, version: str, language: str = "en") -> ModelPage:
    """A version's registry entry, every time it became champion, and its model card with how
    its loans performed (and scoring's chart of it, in ``language``)."""
    detail = scoring.model(version)
    problem: str | None = None
    performance, chart = None, None
    try:
        card = scoring.model_card(version)
        sections = card_sections(card.model_dump(mode="python"))
        performance = card.performance
    except UpstreamProblem as exc:  # the entry stands even when its artifact cannot be read
        sections, problem = [], str(exc.problem.get("detail") or exc.problem.get("title") or "")
    if performance is not None:
        chart = _chart(scoring, version, language)
    return ModelPage(
        model=detail,
        created_by=actor_view(detail.created_by),
        status_label=STATUS_LABELS.get(detail.status, detail.status),
        promotions=[_promotion(p) for p in detail.promotions],
        card_sections=sections,
        card_problem=problem,
        performance=performance,
        performance_chart=chart,
    )
