"""Use cases of the portfolio-at-risk page: PAR per currency (and per product) from loans, as a
server-side bar chart and tables of the same numbers, and loans' CSV of the same report.

The CSV is loans' own (``GET /v1/portfolio/par.csv``), passed through unchanged: one line per
product and one ``ALL`` line per currency; money as integer minor units in columns whose
names end in ``_minor`` beside a ``currency`` column; ratios as exact decimals (0.125 = 12.5%).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from services.console.domain.charts import Bar, bar_chart
from services.console.domain.formatting import day, percent
from shared.clients.loans import LoansClient, ParFigure, ParSummary

THRESHOLDS = ("par1", "par30", "par90")
"""The PAR figures loans reports (``ParSummary`` fields), in order of days past due."""
TONES = {"par1": "warn", "par30": "bad", "par90": "bad"}

Translate = Callable[[str], str]


@dataclass(frozen=True)
class ParLine:
    """One PAR figure: principal and loans at least ``threshold_days`` past due, and the ratio."""

    name: str
    threshold_days: int
    at_risk_principal_minor: int
    loans_at_risk: int
    ratio: Decimal


@dataclass(frozen=True)
class ParBlock:
    """PAR of a set of loans (a currency's book or one product)."""

    name: str
    loan_count: int
    outstanding_principal_minor: int
    lines: list[ParLine]


@dataclass(frozen=True)
class CurrencyPar:
    """PAR in one currency: in total and per product."""

    currency: str
    total: ParBlock
    products: list[ParBlock]


@dataclass(frozen=True)
class ParPage:
    """The report as of a date, and its chart (SVG, empty when there is nothing outstanding)."""

    as_of: dt.date
    currencies: list[CurrencyPar]
    chart_svg: str


def _line(figure: ParFigure) -> ParLine:
    return ParLine(
        name=f"PAR{figure.threshold_days}",
        threshold_days=figure.threshold_days,
        at_risk_principal_minor=figure.at_risk_principal_minor,
        loans_at_risk=figure.loans_at_risk,
        ratio=figure.ratio,
    )


def _block(name: str, summary: ParSummary) -> ParBlock:
    return ParBlock(
        name=name,
        loan_count=summary.loan_count,
        outstanding_principal_minor=summary.outstanding_principal_minor,
        lines=[_line(getattr(summary, key)) for key in THRESHOLDS],
    )


def par_chart(currencies: list[CurrencyPar], *, as_of: dt.date, language: str, _: Translate) -> str:
    """One bar per currency and PAR figure (the ratio, in percent), titled and described."""
    bars = [
        Bar(
            label=f"{block.currency} {line.name}",
            value=line.ratio * 100,
            text=percent(line.ratio, language),
            tone=TONES.get(f"par{line.threshold_days}", "warn"),
        )
        for block in currencies
        for line in block.total.lines
    ]
    if not bars:
        return ""
    figures = "; ".join(f"{bar.label} {bar.text}" for bar in bars)
    return bar_chart(
        bars,
        title=_("Portfolio at risk as of %(date)s") % {"date": day(as_of, language)},
        description=_(
            "Share of outstanding principal on loans at least 1, 30 and 90 days past due, per currency: "
            "%(figures)s."
        )
        % {"figures": figures},
    )


def par_page(client: LoansClient, *, as_of: dt.date | None, language: str, _: Translate) -> ParPage:
    """PAR as of ``as_of`` (loans' business date when omitted), per currency and product."""
    report = client.portfolio_par(as_of=as_of)
    currencies = [
        CurrencyPar(
            currency=c.currency,
            total=_block(c.currency, c.total),
            products=[_block(p.product_name, p) for p in c.by_product],
        )
        for c in report.currencies
    ]
    return ParPage(
        as_of=report.as_of,
        currencies=currencies,
        chart_svg=par_chart(currencies, as_of=report.as_of, language=language, _=_),
    )


def par_csv(client: LoansClient, *, as_of: dt.date | None) -> tuple[str, str]:
    """Loans' PAR CSV and the file name to download it as (``par-<as of>.csv``)."""
    text = client.portfolio_par_csv(as_of=as_of)
    first = next(csv.DictReader(io.StringIO(text)), None)
    stated = (first or {}).get("as_of") or (as_of.isoformat() if as_of else "")
    safe = "".join(ch for ch in stated if ch.isdigit() or ch == "-")
    return text, f"par-{safe}.csv" if safe else "par.csv"
