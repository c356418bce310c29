"""What every chart scoring draws as SVG begins with: an accessible ``<svg>`` and its heading.

The ``<svg>`` is labelled by its ``<title>`` (the heading's text) and its ``<desc>`` (the text
alternative: every figure the chart shows, in words), in the chart's language.
"""

from __future__ import annotations

import re
from html import escape


def svg_head(*, width: int, height: int, ident: str, lang: str, title: str, description: str) -> list[str]:
    """The opening ``<svg>``, its ``<title>`` and ``<desc>``, and the visible heading."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", ident)
    title_id, desc_id = f"{safe}-title", f"{safe}-desc"
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-labelledby="{title_id} {desc_id}" lang="{lang}" '
        f'xml:lang="{lang}" font-family="sans-serif" font-size="12">',
        f'<title id="{title_id}">{escape(title)}</title>',
        f'<desc id="{desc_id}">{escape(description)}</desc>',
        f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="14" aria-hidden="true">'
        f"{escape(title)}</text>",
    ]
