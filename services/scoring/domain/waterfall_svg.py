"""The waterfall chart as accessible SVG text, in English or Simplified Chinese.

Drawn by hand (no matplotlib) from :func:`services.scoring.domain.waterfall.waterfall_bars`,
so that Chinese text needs no font on the server: the browser renders it. The root is
``<svg role="img" aria-labelledby="<title id> <desc id>" lang="…">`` whose ``<title>`` says
the score, grade and PD and whose ``<desc>`` is the whole chart in words (base points, every
bar's points, the score, and the reason codes with their texts): the text alternative a
screen reader reads. Every bar carries its own ``<title>`` too. Ids are prefixed with
``ident`` so that several charts can share one page.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from services.scoring.domain.explain import Explanation
from services.scoring.domain.svg import svg_head
from services.scoring.domain.waterfall import COLOURS, Bar, axis_range, waterfall_bars


@dataclass(frozen=True)
class _Words:
    base: str
    score: str
    points: str
    others: str  # "{n} other features"
    title: str  # "{subject}: score {score}, grade {grade}, PD {pd} ({model})"
    intro: str  # "Waterfall from base points through each feature's points to the score."
    reasons: str
    no_reasons: str
    sep: str
    end: str


WORDS = {
    "en": _Words(
        base="base points",
        score="score",
        points="points",
        others="{n} other features",
        title="{subject}: score {score}, grade {grade}, PD {pd} ({model})",
        intro="Waterfall chart from the base points through each feature's points to the score.",
        reasons="Reasons",
        no_reasons="No feature cost points",
        sep="; ",
        end=".",
    ),
    "zh": _Words(
        base="基础分",
        score="评分",
        points="分",
        others="其他 {n} 项特征",
        title="{subject}：评分 {score}，等级 {grade}，违约概率 {pd}（{model}）",
        intro="瀑布图：从基础分起，逐项加减各特征的分数，得到最终评分。",
        reasons="原因",
        no_reasons="没有特征扣分",
        sep="；",
        end="。",
    ),
}

WIDTH = 760
LABEL_WIDTH = 230
VALUE_ROOM = 70
ROW = 26
TOP = 56
BOTTOM = 44


def _label(bar: Bar, words: _Words, *, first: bool) -> str:
    if bar.kind == "total":
        return words.base if first else words.score
    return words.others.format(n=bar.grouped) if bar.grouped else bar.label


def _signed(value: float) -> str:
    return f"{value:+.0f}".replace("-", "−")


def chart_title(explanation: Explanation, *, subject: str, model: str, lang: str) -> str:
    """The chart's title: subject, score, grade, PD and model version."""
    words = WORDS.get(lang, WORDS["en"])
    return words.title.format(
        subject=subject,
        score=str(explanation.integers.score),
        grade=explanation.grade,
        pd=f"{explanation.pd:.2%}",
        model=model,
    )


def chart_description(explanation: Explanation, bars: list[Bar], *, lang: str) -> str:
    """The chart in words: base points, each bar's points, the score, the reasons."""
    words = WORDS.get(lang, WORDS["en"])
    parts = [f"{words.base} {bars[0].height:.0f}"]
    parts += [f"{_label(b, words, first=False)} {_signed(b.height)} {words.points}" for b in bars[1:-1]]
    parts.append(f"{words.score} {bars[-1].height:.0f}")
    if explanation.reasons:
        whole = explanation.integer_points_by_feature()
        listed = words.sep.join(
            f"{r.code} {r.text} ({_signed(whole[r.feature])} {words.points})" for r in explanation.reasons
        )
        reasons = f"{words.reasons}: {listed}" if lang == "en" else f"{words.reasons}：{listed}"
    else:
        reasons = words.no_reasons
    return f"{words.intro} {words.sep.join(parts)}{words.end} {reasons}{words.end}"


def render_waterfall_svg(
    explanation: Explanation,
    *,
    title: str,
    ident: str = "waterfall",
    lang: str = "en",
    max_features: int = 10,
) -> str:
    """SVG text of the waterfall with a ``<title>`` and a ``<desc>`` (its text alternative)."""
    words = WORDS.get(lang, WORDS["en"])
    bars = waterfall_bars(explanation, max_features=max_features)
    low, high = axis_range(bars)
    plot = WIDTH - LABEL_WIDTH - VALUE_ROOM
    height = TOP + ROW * len(bars) + BOTTOM

    def x(value: float) -> float:
        """The x of a number of points, clipped to the plot (totals start at 0, the axis need not)."""
        clipped = min(max(value, low), high)
        return round(LABEL_WIDTH + (clipped - low) / (high - low) * plot, 2)

    out = svg_head(
        width=WIDTH,
        height=height,
        ident=ident,
        lang=lang,
        title=title,
        description=chart_description(explanation, bars, lang=lang),
    )
    for i, bar in enumerate(bars):
        y = TOP + i * ROW
        left, right = sorted((x(bar.start), x(bar.end)))
        label = _label(bar, words, first=i == 0)
        value = f"{bar.height:.0f}" if bar.kind == "total" else _signed(bar.height)
        out += [
            f'<g class="bar {bar.kind}">',
            f"<title>{escape(label)}: {value}</title>",
            f'<text x="{LABEL_WIDTH - 8}" y="{y + ROW / 2 + 4}" text-anchor="end">{escape(label)}</text>',
            f'<rect x="{left}" y="{y + 4}" width="{max(round(right - left, 2), 1.0)}" height="{ROW - 8}" '
            f'fill="{COLOURS[bar.kind]}"/>',
            f'<text x="{right + 4}" y="{y + ROW / 2 + 4}">{value}</text>',
            "</g>",
        ]
    axis_y = TOP + ROW * len(bars) + 6
    out += [
        f'<line x1="{LABEL_WIDTH}" y1="{axis_y}" x2="{LABEL_WIDTH + plot}" y2="{axis_y}" stroke="#333"/>',
        f'<text x="{LABEL_WIDTH}" y="{axis_y + 16}" text-anchor="start">{low:.0f}</text>',
        f'<text x="{LABEL_WIDTH + plot}" y="{axis_y + 16}" text-anchor="end">{high:.0f}</text>',
        f'<text x="{LABEL_WIDTH + plot / 2}" y="{axis_y + 30}" text-anchor="middle">'
        f"{escape(words.points)}</text>",
        "</svg>",
    ]
    return "\n".join(out) + "\n"
