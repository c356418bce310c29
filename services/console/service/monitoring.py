"""The drift and fairness page's data: scoring's monitoring report of a segment as a PSI chart
(toned by the 0.10 / 0.25 bands) with its table, and the adverse-impact ratios per group."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from services.console.domain.charts import Bar, bar_chart
from services.console.domain.feature_labels import feature_label
from services.console.domain.formatting import number
from services.console.pages import N_, translations
from shared.clients.scoring import Fairness as FairnessAnswer
from shared.clients.scoring import ScoringClient, Stability, StabilityReport

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

    report: StabilityReport
    stability: list[StabilityRow]
    psi_chart: str | None
    fairness: Fairness | None


def parse_since(text: str) -> tuple[datetime | None, str | None]:
    """``(the start of that UTC day, None)`` or ``(None, the error)``; ``(None, None)`` when empty."""
    if not text:
        return None, None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None, N_("Not a date: write it as YYYY-MM-DD.")
    return datetime.combine(day, time.min, UTC), None


def segments(scoring: ScoringClient) -> list[str]:
    """The segments scoring knows."""
    return [s.segment for s in scoring.segments()]


def _stability(report: StabilityReport) -> list[StabilityRow]:
    entries: list[tuple[str, bool, Stability]] = [("score", True, report.score)] if report.score else []
    entries += [(name, False, stability) for name, stability in report.features.items()]
    rows = []
    for name, is_score, stability in entries:
        psi = Decimal(repr(stability.psi))
        shade = tone(psi)
        rows.append(
            StabilityRow(
                name,
                is_score,
                psi,
                shade,
                BAND_LABELS[shade],
                KIND_LABELS.get(stability.kind, stability.kind),
            )
        )
    return rows


def _chart(rows: list[StabilityRow], language: str, segment: str) -> str:
    gettext = translations(language).gettext
    bars = [
        Bar(
            label=gettext("Score") if row.is_score else gettext(feature_label(row.name)),
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


def _fairness(raw: FairnessAnswer | None) -> Fairness | None:
    if raw is None:
        return None
    threshold = Decimal(repr(raw.threshold))
    rates = {group: Decimal(repr(rate)) for group, rate in raw.rates.items()}
    highest = max(rates.values(), default=Decimal(0))
    groups = []
    for group in sorted(rates, key=lambda g: (rates[g], g)):
        ratio = rates[group] / highest if highest > 0 else None
        flagged = ratio is not None and ratio < threshold
        groups.append(GroupImpact(group, raw.counts.get(group, 0), rates[group], ratio, flagged))
    return Fairness(raw.rows, Decimal(repr(raw.ratio)), threshold, raw.flagged, groups)


def report(scoring: ScoringClient, segment: str, *, since: datetime | None, language: str) -> Report:
    """Scoring's PSI and adverse-impact report of ``segment`` (since ``since``, else its window)."""
    body = scoring.monitoring_psi(segment, since=since)
    rows = _stability(body)
    return Report(
        report=body,
        stability=rows,
        psi_chart=_chart(rows, language, segment) if rows else None,
        fairness=_fairness(body.fairness),
    )
