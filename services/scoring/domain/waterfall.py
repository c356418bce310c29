"""Waterfall chart from base points through each feature's points to the score: its bars
(:func:`waterfall_bars`, which the SVG form in ``waterfall_svg`` draws too) and the PNG.

Uses matplotlib's Agg backend and an explicit ``Figure`` (no pyplot global state), so it is
safe to call from server threads.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from services.scoring.domain.explain import Explanation

GAIN_COLOUR = "#2e7d32"
COST_COLOUR = "#c62828"
TOTAL_COLOUR = "#546e7a"


@dataclass(frozen=True)
class Bar:
    """One bar of a waterfall: where it starts, how far it goes (signed), and its kind."""

    label: str
    start: float
    height: float
    kind: str  # "total" (base points, score), "gain" or "cost"
    grouped: int = 0  # features summed into this bar (the "n other features" bar), else 0

    @property
    def end(self) -> float:
        """Where the bar ends."""
        return self.start + self.height


def waterfall_bars(explanation: Explanation, *, max_features: int = 10) -> list[Bar]:
    """Base points, the ``max_features`` largest |points| (the rest as one bar), the score.

    The bars are the printable integer points (they add up exactly, as the console's table
    shows them); features are ordered by their exact points' size.
    """
    integers = explanation.integers
    whole = explanation.integer_points_by_feature()
    ordered = sorted(explanation.points.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    items = [(name, float(whole[name])) for name, _ in ordered]
    shown = items[:max_features]
    rest = items[max_features:]
    bars = [Bar("base points", 0.0, float(integers.base), "total")]
    running = float(integers.base)
    for name, points in shown:
        bars.append(Bar(name, running, points, "gain" if points >= 0 else "cost"))
        running += points
    if rest:
        points = sum(p for _, p in rest)
        kind = "gain" if points >= 0 else "cost"
        bars.append(Bar(f"{len(rest)} other features", running, points, kind, grouped=len(rest)))
    bars.append(Bar("score", 0.0, float(integers.score), "total"))
    return bars


def axis_range(bars: list[Bar]) -> tuple[float, float]:
    """The points axis: every bar's ends, with room for the labels, never below zero."""
    steps = bars[1:-1]
    totals = [bars[0].height, bars[-1].height]
    low = min([*totals, *(b.end for b in steps)])
    high = max([*totals, *(b.start for b in steps), *(b.end for b in steps)])
    margin = max(10.0, 0.1 * (high - low))
    return max(0.0, low - 3 * margin), high + 2 * margin


COLOURS = {"total": TOTAL_COLOUR, "gain": GAIN_COLOUR, "cost": COST_COLOUR}


def render_waterfall(
    explanation: Explanation, *, max_features: int = 10, title: str | None = None, dpi: int = 100
) -> bytes:
    """PNG of base points, the ``max_features`` largest |points| (rest grouped), the score."""
    bars = waterfall_bars(explanation, max_features=max_features)
    fig = Figure(figsize=(8.0, 0.45 * len(bars) + 1.5), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    positions = list(range(len(bars)))[::-1]
    ax.barh(
        positions,
        [b.height for b in bars],
        left=[b.start for b in bars],
        color=[COLOURS[b.kind] for b in bars],
        height=0.6,
    )
    for pos, bar in zip(positions, bars, strict=True):
        text = f"{bar.height:+.0f}" if bar.kind != "total" else f"{bar.height:.0f}"
        ax.text(max(bar.start, bar.end), pos, f" {text}", va="center", fontsize=8)
    ax.set_yticks(positions, [b.label for b in bars], fontsize=8)
    ax.set_xlim(*axis_range(bars))
    ax.set_xlabel("points")
    ax.set_title(
        title or f"Score {explanation.integers.score} (grade {explanation.grade}, PD {explanation.pd:.2%})"
    )
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
