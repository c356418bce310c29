"""The model card's performance chart as accessible SVG text, in English or Simplified Chinese:
per grade, the realised default rate of the matured loans beside the mean PD their scores
predicted (the ``grades`` of ``domain.performance.performance_report``).

Drawn by hand like ``waterfall_svg`` (no matplotlib, so Chinese text needs no server font):
``<svg role="img" aria-labelledby="<title id> <desc id>" lang="…">`` whose ``<title>`` names
the model version and the report date and whose ``<desc>`` says every grade's figures in
words, with their counts — the text alternative a screen reader reads. Every bar carries its
own ``<title>``; each grade's counts stand under its label. A grade with no matured loans has
no bars, only the words saying so.
Realised bars are red when above the prediction, green otherwise; predicted bars are grey.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from services.scoring.domain.svg import svg_head
from services.scoring.domain.waterfall import COST_COLOUR, GAIN_COLOUR, TOTAL_COLOUR


@dataclass(frozen=True)
class _Words:
    title: str  # "{version}: realised default rate vs predicted PD per grade, as of {as_of}"
    intro: str
    grade: str  # "grade {grade}"
    realised: str
    predicted: str
    matured: str  # "{n} matured loans, {d} defaulted"
    counts: str  # "{n} matured, {d} defaulted" (under the grade's label)
    no_loans: str
    colon: str
    sep: str
    end: str


WORDS = {
    "en": _Words(
        title="{version}: realised default rate vs predicted PD per grade, as of {as_of}",
        intro="For each grade, the share of its matured loans that defaulted beside the mean "
        "probability of default its scores predicted.",
        grade="Grade {grade}",
        realised="realised",
        predicted="predicted",
        matured="{n} matured loans, {d} defaulted",
        counts="{n} matured, {d} defaulted",
        no_loans="no matured loans",
        colon=": ",
        sep="; ",
        end=".",
    ),
    "zh": _Words(
        title="{version}：各等级实际违约率与预测违约概率对比（截至 {as_of}）",
        intro="每个等级：已到期贷款中实际违约的比例，与其评分预测的平均违约概率并列。",
        grade="等级 {grade}",
        realised="实际",
        predicted="预测",
        matured="已到期贷款 {n} 笔，违约 {d} 笔",
        counts="到期 {n}，违约 {d}",
        no_loans="没有已到期贷款",
        colon="：",
        sep="；",
        end="。",
    ),
}

WIDTH = 760
LABEL_WIDTH = 170
VALUE_ROOM = 130
BAR = 16
GROUP = 2 * BAR + 14
TOP = 56
BOTTOM = 44
AXIS_STEP = 0.05


def _pct(value: float) -> str:
    return f"{value:.1%}"


def chart_title(*, version: str, as_of: str, lang: str) -> str:
    """The chart's title: the model version and the report date."""
    return WORDS.get(lang, WORDS["en"]).title.format(version=version, as_of=as_of)


def chart_description(grades: Sequence[Mapping[str, Any]], *, lang: str) -> str:
    """The chart in words: each grade's realised rate, predicted PD and counts."""
    words = WORDS.get(lang, WORDS["en"])
    parts = []
    for g in grades:
        label = words.grade.format(grade=g["grade"])
        if g["default_rate"] is None or g["mean_pd"] is None:
            parts.append(f"{label}{words.colon}{words.no_loans}")
            continue
        counts = words.matured.format(n=g["matured"], d=g["defaulted"])
        parts.append(
            f"{label}{words.colon}{words.realised} {_pct(g['default_rate'])}, "
            f"{words.predicted} {_pct(g['mean_pd'])} ({counts})"
        )
    return f"{words.intro} {words.sep.join(parts)}{words.end}"


def axis_top(grades: Sequence[Mapping[str, Any]]) -> float:
    """The rate axis ends at the largest rate shown, rounded up to a 5 % step (at least 5 %)."""
    rates = [float(g[k]) for g in grades for k in ("default_rate", "mean_pd") if g[k] is not None]
    steps = math.ceil(round(max(rates, default=0.0) / AXIS_STEP, 9))
    return min(1.0, max(1, steps) * AXIS_STEP)


def render_performance_svg(
    grades: Sequence[Mapping[str, Any]], *, title: str, ident: str = "performance", lang: str = "en"
) -> str:
    """SVG text of realised default rate vs mean predicted PD per grade, with ``<title>`` and ``<desc>``."""
    words = WORDS.get(lang, WORDS["en"])
    top = axis_top(grades)
    plot = WIDTH - LABEL_WIDTH - VALUE_ROOM
    height = TOP + GROUP * len(grades) + BOTTOM

    def width_of(rate: float) -> float:
        return max(round(min(rate, top) / top * plot, 2), 1.0)

    out = svg_head(
        width=WIDTH,
        height=height,
        ident=ident,
        lang=lang,
        title=title,
        description=chart_description(grades, lang=lang),
    )
    for i, g in enumerate(grades):
        y = TOP + i * GROUP
        label = escape(words.grade.format(grade=g["grade"]))
        out += [
            '<g class="grade">',
            f'<text x="{LABEL_WIDTH - 8}" y="{y + BAR - 3}" text-anchor="end">{label}</text>',
        ]
        if g["default_rate"] is None or g["mean_pd"] is None:
            out += [
                f'<text x="{LABEL_WIDTH + 4}" y="{y + BAR - 3}" fill="#555">{escape(words.no_loans)}</text>',
                "</g>",
            ]
            continue
        counts = escape(words.counts.format(n=g["matured"], d=g["defaulted"]))
        out.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 2 * BAR - 3}" text-anchor="end" font-size="10" '
            f'fill="#555">{counts}</text>'
        )
        realised, predicted = float(g["default_rate"]), float(g["mean_pd"])
        bars = (
            ("realised", words.realised, realised, COST_COLOUR if realised > predicted else GAIN_COLOUR),
            ("predicted", words.predicted, predicted, TOTAL_COLOUR),
        )
        for j, (kind, name, rate, colour) in enumerate(bars):
            bar_y, w = y + j * BAR, width_of(rate)
            text = f"{escape(name)} {_pct(rate)}"
            out += [
                f'<rect class="{kind}" x="{LABEL_WIDTH}" y="{bar_y + 1}" width="{w}" height="{BAR - 2}" '
                f'fill="{colour}"><title>{label} {text}</title></rect>',
                f'<text x="{LABEL_WIDTH + w + 4}" y="{bar_y + BAR - 4}">{text}</text>',
            ]
        out.append("</g>")
    axis_y = TOP + GROUP * len(grades)
    out += [
        f'<line x1="{LABEL_WIDTH}" y1="{axis_y}" x2="{LABEL_WIDTH + plot}" y2="{axis_y}" stroke="#333"/>',
        f'<text x="{LABEL_WIDTH}" y="{axis_y + 16}" text-anchor="start">0 %</text>',
        f'<text x="{LABEL_WIDTH + plot}" y="{axis_y + 16}" text-anchor="end">{top:.0%}</text>',
        "</svg>",
    ]
    return "\n".join(out) + "\n"
