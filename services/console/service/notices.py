"""The adverse-action notice as a PDF (reportlab), in the reader's language.

English text is set in Helvetica; Chinese (and any text Helvetica cannot show) in
reportlab's built-in CID font ``STSong-Light``, which PDF readers supply, so no font file
ships with the console. The PDF says what the printable page says (``domain.notice``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from io import BytesIO
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import (
    ListFlowable,
    ListItem,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from services.console.domain import formatting
from services.console.domain.notice import NOTICE_TEXTS, AdverseNotice

CJK_FONT = "STSong-Light"
LATIN_FONT = "Helvetica"
LATIN_BOLD = "Helvetica-Bold"


@cache
def _cjk_font() -> str:
    pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return CJK_FONT


def _latin1(text: str) -> bool:
    return all(ord(ch) < 256 for ch in text)


def notice_pdf(notice: AdverseNotice, *, language: str, gettext: Callable[[str], str]) -> bytes:
    """The notice as PDF bytes (page streams uncompressed: small, and searchable as text)."""
    t = NOTICE_TEXTS

    def say(message: str) -> str:
        return gettext(message)

    rows = [
        (say(t.applicant), notice.applicant),
        *([(say(t.national_id), notice.national_id)] if notice.national_id else []),
        (say(t.application), notice.application_id),
        (say(t.product), notice.product),
        (say(t.amount), formatting.money(notice.amount_minor, notice.currency, language)),
        (say(t.submitted), formatting.day(notice.submitted_on, language)),
        (say(t.decided), formatting.day(notice.decided_on, language)),
        (say(t.decision), say(t.declined)),
    ]
    reasons = [f"{r.text} ({r.code})" for r in notice.reasons]
    texts = [say(t.title), say(t.intro), say(t.reasons), say(t.closing), say(t.no_reasons), *reasons]
    texts += [cell for row in rows for cell in row]
    cjk = language == "zh" or not all(_latin1(x) for x in texts)
    body_font = _cjk_font() if cjk else LATIN_FONT
    bold_font = body_font if cjk else LATIN_BOLD
    wrap = "CJK" if cjk else None
    body = ParagraphStyle("body", fontName=body_font, fontSize=11, leading=15, wordWrap=wrap)
    title = ParagraphStyle("title", parent=body, fontName=bold_font, fontSize=17, leading=22, spaceAfter=8)
    heading = ParagraphStyle(
        "heading", parent=body, fontName=bold_font, fontSize=13, leading=18, spaceBefore=10
    )

    def para(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(text), style)

    facts = Table(
        [[para(label), para(value)] for label, value in rows],
        colWidths=[55 * mm, 110 * mm],
        hAlign="LEFT",
    )
    facts.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story = [
        para(say(t.title), title),
        para(say(t.intro)),
        Spacer(1, 4 * mm),
        facts,
        para(say(t.reasons), heading),
    ]
    if reasons:
        story.append(
            ListFlowable([ListItem(para(text)) for text in reasons], bulletType="1", bulletFontName=body_font)
        )
    else:
        story.append(para(say(t.no_reasons)))
    story += [Spacer(1, 6 * mm), para(say(t.closing))]
    out = BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        title=say(t.title),
        author="agrifin",
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=20 * mm,
        bottomMargin=20 * mm,
        pageCompression=0,
    )
    document.build(story)
    return out.getvalue()
