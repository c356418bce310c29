"""Waterfall chart (PNG bytes) from base points through each feature's points to the score.

Uses matplotlib's Agg backend and an explicit ``Figure`` (no pyplot global state), so it is
safe to call from server threads.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from services.scoring.domain.explain import Explanation

GAIN_COLOUR = "#2e7d32"
COST_COLOUR = "#c62828"
TOTAL_COLOUR = "#546e7a"


def render_waterfall(
    explanation: Explanation, *, max_features: int = 10, title: str | None = None, dpi: int = 100
) -> bytes:
    """PNG of base points, the ``max_features`` largest |points| (rest grouped), the score."""
    items = sorted(explanation.points.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    shown = items[:max_features]
    rest = items[max_features:]
    if rest:
        shown.append((f"{len(rest)} other features", sum(p for _, p in rest)))

    labels = ["base points"] + [name for name, _ in shown] + ["score"]
    starts: list[float] = [0.0]
    heights: list[float] = [explanation.base_points]
    colours = [TOTAL_COLOUR]
    running = explanation.base_points
    for _, points in shown:
        starts.append(running)
        heights.append(points)
        colours.append(GAIN_COLOUR if points >= 0 else COST_COLOUR)
        running += points
    starts.append(0.0)
    heights.append(explanation.score)
    colours.append(TOTAL_COLOUR)

    fig = Figure(figsize=(8.0, 0.45 * len(labels) + 1.5), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    positions = list(range(len(labels)))[::-1]
    ax.barh(positions, heights, left=starts, color=colours, height=0.6)
    for pos, start, height in zip(positions, starts, heights, strict=True):
        text = f"{height:+.1f}" if 0 < pos < len(labels) - 1 else f"{height:.1f}"
        ax.text(max(start, start + height), pos, f" {text}", va="center", fontsize=8)
    ax.set_yticks(positions, labels, fontsize=8)
    totals = [explanation.base_points, explanation.score]
    low = min([*totals, *(s + h for s, h in zip(starts[1:-1], heights[1:-1], strict=True))])
    high = max([*totals, *starts[1:-1]])
    margin = max(10.0, 0.1 * (high - low))
    ax.set_xlim(max(0.0, low - 3 * margin), high + 2 * margin)
    ax.set_xlabel("points")
    ax.set_title(
        title or f"Score {explanation.score:.1f} (grade {explanation.grade}, PD {explanation.pd:.2%})"
    )
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
