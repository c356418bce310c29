"""The model performance page's data: scoring's performance report of a segment (one model
version when chosen, as of a date) shaped for the page: per grade the realised default rate
against the mean predicted PD (a chart and its table), AUC and KS on matured loans, vintage
curves by disbursement month, and the adverse-impact ratios on approvals and on outcomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from services.console.domain.charts import Bar, bar_chart
from services.console.domain.formatting import percent
from services.console.pages import N_, translations
from shared.clients.scoring import AdverseImpact, PerformanceReport, ScoringClient, Vintage

MONTHS: tuple[int, ...] = tuple(range(1, 13))
"""The vintage curves' months since disbursement (scoring's 12-month default horizon)."""


@dataclass(frozen=True)
class GroupRate:
    """One monitoring group of an adverse-impact measure: its count, rate and ratio to the highest."""

    group: str
    count: int
    rate: Decimal
    ratio: Decimal | None
    flagged: bool


@dataclass(frozen=True)
class Impact:
    """An adverse-impact measure (approvals or outcomes): the lowest ratio, flagged, each group."""

    title: str
    rate_label: str
    ratio: Decimal | None
    flagged: bool
    threshold: Decimal
    groups: list[GroupRate]
    note: str | None


@dataclass(frozen=True)
class VintageRow:
    """A disbursement month: its loans and its cumulative default rate after each month (None: not yet)."""

    vintage: str
    loans: int
    rates: list[Decimal | None]
    note: str | None


@dataclass(frozen=True)
class Page:
    """Scoring's report with its chart, vintage rows and adverse-impact measures."""

    report: PerformanceReport
    grade_chart: str | None
    vintages: list[VintageRow]
    vintage_chart: str | None
    impacts: list[Impact]


def parse_as_of(text: str) -> tuple[date | None, str | None]:
    """``(the date, None)`` or ``(None, the error)``; ``(None, None)`` when empty."""
    if not text:
        return None, None
    try:
        return date.fromisoformat(text), None
    except ValueError:
        return None, N_("Not a date: write it as YYYY-MM-DD.")


def segments(scoring: ScoringClient) -> list[str]:
    """The segments scoring knows."""
    return [s.segment for s in scoring.segments()]


def versions(scoring: ScoringClient, segment: str) -> list[str]:
    """The registered model versions of ``segment``, newest first."""
    return [m.version for m in scoring.models(segment=segment, limit=500)]


def _decimal(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value))


def _grade_chart(report: PerformanceReport, language: str) -> str | None:
    gettext = translations(language).gettext
    bars = []
    for grade in report.grades:
        realised, predicted = _decimal(grade.default_rate), _decimal(grade.mean_pd)
        if realised is None or predicted is None:
            continue
        bars.append(
            Bar(
                label=gettext("Grade %(grade)s realised") % {"grade": grade.grade},
                value=realised,
                text=percent(realised, language),
                tone="bad" if realised > predicted else "good",
            )
        )
        bars.append(
            Bar(
                label=gettext("Grade %(grade)s predicted") % {"grade": grade.grade},
                value=predicted,
                text=percent(predicted, language),
            )
        )
    if not bars:
        return None
    return bar_chart(
        bars,
        title=gettext("Realised default rate vs mean predicted PD per grade, %(segment)s")
        % {"segment": report.segment},
        description=gettext(
            "For each grade with matured loans, two bars: the share of its matured loans that defaulted "
            "(red when above the prediction, green otherwise) and the mean probability of default its "
            "scores predicted. The table below gives the same numbers with their counts."
        ),
    )


def _vintage(vintage: Vintage) -> VintageRow:
    by_month = {point.months: _decimal(point.default_rate) for point in vintage.curve}
    return VintageRow(vintage.vintage, vintage.loans, [by_month.get(k) for k in MONTHS], vintage.note)


def _vintage_chart(report: PerformanceReport, language: str) -> str | None:
    gettext = translations(language).gettext
    bars = []
    for vintage in report.vintages:
        if not vintage.curve:
            continue
        last = max(vintage.curve, key=lambda point: point.months)
        rate = Decimal(repr(last.default_rate))
        bars.append(
            Bar(
                label=gettext("%(vintage)s after %(months)s mo")
                % {"vintage": vintage.vintage, "months": last.months},
                value=rate,
                text=percent(rate, language),
            )
        )
    if not bars:
        return None
    return bar_chart(
        bars,
        title=gettext("Share of each vintage defaulted, %(segment)s") % {"segment": report.segment},
        description=gettext(
            "For each disbursement month, the share of its loans defaulted within the latest month since "
            "disbursement that all of them have reached. The table below gives every month's figure."
        ),
    )


def _impact(raw: AdverseImpact, title: str, rate_label: str) -> Impact:
    threshold = Decimal(repr(raw.threshold))
    rates = {group: Decimal(repr(rate)) for group, rate in raw.rates.items()}
    highest = max(rates.values(), default=Decimal(0))
    groups = []
    for group in sorted(rates, key=lambda g: (rates[g], g)):
        ratio = rates[group] / highest if highest > 0 else None
        groups.append(
            GroupRate(
                group, raw.counts.get(group, 0), rates[group], ratio, ratio is not None and ratio < threshold
            )
        )
    return Impact(title, rate_label, _decimal(raw.ratio), bool(raw.flagged), threshold, groups, raw.note)


def page(
    scoring: ScoringClient, segment: str, *, model_version: str | None, as_of: date | None, language: str
) -> Page:
    """Scoring's performance report of ``segment`` shaped for the page."""
    report = scoring.performance(segment, model_version=model_version, as_of=as_of)
    impacts = [
        _impact(report.adverse_impact.approvals, N_("On approvals"), N_("Approve rate")),
        _impact(report.adverse_impact.outcomes, N_("On outcomes"), N_("Rate of not defaulting")),
    ]
    return Page(
        report=report,
        grade_chart=_grade_chart(report, language),
        vintages=[_vintage(v) for v in report.vintages],
        vintage_chart=_vintage_chart(report, language),
        impacts=impacts,
    )
