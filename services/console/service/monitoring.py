"""The drift and fairness page's data: scoring's monitoring report of a segment as a PSI chart
(toned by the 0.10 / 0.25 bands) with its table, and the adverse-impact ratios per group."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from services.console.domain.charts import Bar, bar_chart
from services.console.domain.formatting import number
from services.console.pages import N_, translations
from shared.clients.scoring import ScoringClient
from shared.http_client import UpstreamProblem

PSI_MODERATE = Decimal("0.1")
PSI_SIGNIFICANT = Decimal("0.25")
FOUR_FIFTHS = Decimal("0.8")
"""The adverse-impact threshold when scoring's report does not say its own."""

BAND_LABELS = {
    "good": N_("stable"),
    "warn": N_("moderate shift"),
    "bad": N_("significant shift"),
}
KIND_LABELS = {"numeric": N_("numeric"), "categorical": N_("categorical")}


def tone(psi: Decimal) -> str:
    """The chart tone of a PSI: good below 0.10, warn below 0.25, bad from 0.25."""
    if psi < PSI_MODERATE:
        return "good"
    return "warn" if psi < PSI_SIGNIFICANT else "bad"


@dataclass(frozen=True)
class StabilityRow:
    """The PSI of the score or of one feature."""

    name: str
    is_score: bool
    psi: Decimal
    tone: str
    band_label: str
    kind_label: str


@dataclass(frozen=True)
class GroupImpact:
    """One monitoring group: decisions, approve rate, ratio to the highest rate, flagged."""

    group: str
    count: int
    rate: Decimal
    ratio: Decimal | None
    flagged: bool


@dataclass(frozen=True)
class Fairness:
    """The adverse-impact report: the lowest ratio, whether it is flagged, each group."""

    rows: int
    ratio: Decimal
    threshold: Decimal
    flagged: bool
    groups: list[GroupImpact]


@dataclass(frozen=True)
class Report:
    """A segment's monitoring report, shaped for the page."""

    report: dict[str, Any]
    since: datetime | None
    stability: list[StabilityRow]
    psi_chart: str | None
    fairness: Fairness | None


def parse_since(text: str) -> tuple[str | None, str | None]:
    """``(ISO start of that UTC day, None)`` or ``(None, the error)``; ``(None, None)`` when empty."""
    if not text:
        return None, None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None, N_("Not a date: write it as YYYY-MM-DD.")
    return datetime.combine(day, time.min, UTC).isoformat(), None


def _json(scoring: ScoringClient, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
    response = scoring.request("GET", path, params=params)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise UpstreamProblem(502, {"title": "Bad Gateway", "detail": f"{path}: not a JSON object"})
    return body


def segments(scoring: ScoringClient) -> list[str]:
    """The segments scoring knows."""
    return [str(s["segment"]) for s in _json(scoring, "/v1/segments").get("segments", [])]


def _stability(report: dict[str, Any]) -> list[StabilityRow]:
    entries: list[tuple[str, bool, dict[str, Any]]] = []
    if isinstance(report.get("score"), dict):
        entries.append(("score", True, report["score"]))
    entries += [(str(name), False, s) for name, s in (report.get("features") or {}).items()]
    rows = []
    for name, is_score, stability in entries:
        psi = Decimal(str(stability["psi"]))
        shade = tone(psi)
        kind = str(stability.get("kind", ""))
        rows.append(StabilityRow(name, is_score, psi, shade, BAND_LABELS[shade], KIND_LABELS.get(kind, kind)))
    return rows


def _chart(rows: list[StabilityRow], language: str, segment: str) -> str:
    gettext = translations(language).gettext
    bars = [
        Bar(
            label=gettext("Score") if row.is_score else row.name,
            value=row.psi,
            text=number(row.psi, language, digits=4),
            tone=row.tone,
        )
        for row in rows
    ]
    return bar_chart(
        bars,
        title=gettext("Population stability (PSI) of %(segment)s") % {"segment": segment},
        description=gettext(
            "PSI of the score and of each feature; below 0.10 stable, 0.10 to 0.25 moderate, "
            "0.25 or more significant. The table below gives the same numbers."
        ),
    )


def _fairness(report: dict[str, Any]) -> Fairness | None:
    raw = report.get("fairness")
    if not isinstance(raw, dict):
        return None
    threshold = Decimal(str(raw.get("threshold", FOUR_FIFTHS)))
    rates = {str(g): Decimal(str(r)) for g, r in (raw.get("rates") or {}).items()}
    counts = {str(g): int(c) for g, c in (raw.get("counts") or {}).items()}
    highest = max(rates.values(), default=Decimal(0))
    groups = []
    for group in sorted(rates, key=lambda g: (rates[g], g)):
        ratio = rates[group] / highest if highest > 0 else None
        groups.append(
            GroupImpact(
                group, counts.get(group, 0), rates[group], ratio, ratio is not None and ratio < threshold
            )
        )
    return Fairness(
        rows=int(raw.get("rows", 0)),
        ratio=Decimal(str(raw.get("ratio"))),
        threshold=threshold,
        flagged=bool(raw.get("flagged")),
        groups=groups,
    )


def report(scoring: ScoringClient, segment: str, *, since: str | None, language: str) -> Report:
    """Scoring's PSI and adverse-impact report of ``segment`` (since ``since``, else its window)."""
    params = {"segment": segment, **({"since": since} if since else {})}
    body = _json(scoring, "/v1/monitoring/psi", params)
    rows = _stability(body)
    try:
        moment = datetime.fromisoformat(str(body.get("since")))
    except ValueError:
        moment = None
    return Report(
        report=body,
        since=moment,
        stability=rows,
        psi_chart=_chart(rows, language, segment) if rows else None,
        fairness=_fairness(body),
    )
