"""Portfolio at risk (PAR1/30/90) as of a date, per currency, per product and in total.

A loan whose stored snapshot is as of the report date (COB or its last change ran on that
date) is taken as stored; any other loan is replayed with the domain as of that date, so
the report is right for any date, and cheap for the business date after COB.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from services.loans.domain import LoanExposure, ParReport, days_past_due_of, portfolio_at_risk
from services.loans.domain.projection import account_from_rows
from services.loans.repository import accounts
from services.loans.repository import portfolio as repo
from services.loans.repository import products as products_repo
from services.loans.schemas.terms import load_terms

_CHUNK = 1_000


def _exposures(session: Session, *, as_of: date) -> list[LoanExposure]:
    rows = repo.par_loans(session, as_of=as_of)
    exposures = [
        LoanExposure(r.id, r.product_id, r.currency, r.principal_outstanding_minor, r.days_past_due)
        for r in rows
        if r.state_as_of == as_of
    ]
    stale = [r.id for r in rows if r.state_as_of != as_of]
    for start in range(0, len(stale), _CHUNK):
        exposures.extend(_replayed(session, stale[start : start + _CHUNK], as_of=as_of))
    return exposures


def _replayed(session: Session, ids: list[str], *, as_of: date) -> list[LoanExposure]:
    loans = {r.id: r for r in repo.loan_views(session, ids)}
    installments = accounts.installments_of_many(session, ids)
    transactions = accounts.transactions_of_many(session, ids)
    out = []
    for loan_id in ids:
        ln = loans[loan_id]
        terms = load_terms(ln.terms)
        account = account_from_rows(
            ln, terms=terms, installments=installments[loan_id], transactions=transactions.get(loan_id, [])
        )
        state = account.state(as_of=as_of)
        dpd = days_past_due_of(state, tolerance_minor=terms.arrears_tolerance_minor, as_of=as_of)
        out.append(LoanExposure(loan_id, ln.product_id, ln.currency, state.outstanding.principal_minor, dpd))
    return out


def _report_dict(report: ParReport) -> dict[str, Any]:
    def figure(f: Any) -> dict[str, Any]:
        return {
            "threshold_days": f.threshold_days,
            "at_risk_principal_minor": f.at_risk_principal_minor,
            "loans_at_risk": f.loans_at_risk,
            "ratio": str(f.ratio),
        }

    return {
        "loan_count": report.loan_count,
        "outstanding_principal_minor": report.outstanding_principal_minor,
        "par1": figure(report.par1),
        "par30": figure(report.par30),
        "par90": figure(report.par90),
    }


def par_report(session: Session, *, as_of: date) -> dict[str, Any]:
    """PAR as of ``as_of`` for every currency in the book."""
    names = {p.id: p.name for p in products_repo.list_products(session)}
    by_currency: dict[str, list[LoanExposure]] = defaultdict(list)
    for exposure in _exposures(session, as_of=as_of):
        by_currency[exposure.currency].append(exposure)
    currencies = []
    for currency, items in sorted(by_currency.items()):
        par = portfolio_at_risk(exposures=items, currency=currency)
        currencies.append(
            {
                "currency": currency,
                "total": _report_dict(par.total),
                "by_product": [
                    {"product_id": pid, "product_name": names.get(pid, pid), **_report_dict(rep)}
                    for pid, rep in par.by_product.items()
                ],
            }
        )
    return {"as_of": as_of.isoformat(), "currencies": currencies}


CSV_COLUMNS = (
    "as_of",
    "currency",
    "product_id",
    "product_name",
    "loan_count",
    "outstanding_principal_minor",
    "par1_principal_minor",
    "par1_loans",
    "par1_ratio",
    "par30_principal_minor",
    "par30_loans",
    "par30_ratio",
    "par90_principal_minor",
    "par90_loans",
    "par90_ratio",
)


def par_csv(report: dict[str, Any]) -> str:
    """The PAR report as CSV: one line per product and one ``ALL`` line per currency."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for block in report["currencies"]:
        lines = [
            *block["by_product"],
            {"product_id": "ALL", "product_name": "all products", **block["total"]},
        ]
        for line in lines:
            row: list[Any] = [
                report["as_of"],
                block["currency"],
                line["product_id"],
                line["product_name"],
                line["loan_count"],
                line["outstanding_principal_minor"],
            ]
            for key in ("par1", "par30", "par90"):
                f = line[key]
                row += [f["at_risk_principal_minor"], f["loans_at_risk"], f["ratio"]]
            writer.writerow(row)
    return buffer.getvalue()
