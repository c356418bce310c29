"""Charts drawn as SVG on the server (no JavaScript), each with a title and a description for
assistive technology; the page shows the same numbers in a table beside the chart."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value, and the text shown at its end."""

    label: str
    value: Decimal
    text: str
    tone: str = "neutral"
    """``neutral``, ``good``, ``warn`` or ``bad``: the bar's colour."""


TONES = {"neutral": "#3b6ea8", "good": "#116329", "warn": "#9a6700", "bad": "#a40e26"}


def bar_chart(bars: Sequence[Bar], *, title: str, description: str, width: int = 640) -> str:
    """Horizontal bars from a zero line (negative values to the left), as an SVG document."""
    row, label_w, text_w = 28, 200, 90
    height = max(1, len(bars)) * row + 16
    values = [b.value for b in bars] or [Decimal(0)]
    low, high = min(Decimal(0), *values), max(Decimal(0), *values)
    span = (high - low) or Decimal(1)
    plot = width - label_w - text_w
    zero_x = label_w + float((-low) / span) * plot
    # ids unique per chart, so that two charts on one page label themselves, not each other
    ident = "chart-" + hashlib.sha256(f"{title}\n{description}".encode()).hexdigest()[:10]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-labelledby="{ident}-title {ident}-desc">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
    ]
    for i, bar in enumerate(bars):
        y = 8 + i * row
        x_end = label_w + float((bar.value - low) / span) * plot
        x, w = (zero_x, x_end - zero_x) if bar.value >= 0 else (x_end, zero_x - x_end)
        label, text, fill = escape(bar.label), escape(bar.text), TONES.get(bar.tone, TONES["neutral"])
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 17}" text-anchor="end" font-size="13">{label}</text>'
            f'<rect x="{x:.1f}" y="{y + 4}" width="{max(w, 1):.1f}" height="{row - 10}" fill="{fill}">'
            f"<title>{label}: {text}</title></rect>"
            f'<text x="{width - text_w + 6}" y="{y + 17}" font-size="13">{text}</text>'
        )
    parts.append(f'<line x1="{zero_x:.1f}" y1="4" x2="{zero_x:.1f}" y2="{height - 4}" stroke="#1b1f23"/>')
    parts.append("</svg>")
    return "".join(parts)
