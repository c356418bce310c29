"""Pages: portfolio at risk — PAR1/PAR30/PAR90 per currency as a chart and tables of the same
numbers, and loans' CSV of the report as a download."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.console.api.deps import LENDING_READERS, BackendsDep, require_person
from services.console.pages import render, translations
from services.console.service import portfolio as service
from services.console.service.sessions import Person

router = APIRouter(include_in_schema=False)

READERS = LENDING_READERS
"""Loans' ``GET /v1/portfolio/par`` admits loan_officer, credit_manager, auditor and admin."""


@router.get("/portfolio")
def portfolio_at_risk(
    request: Request,
    person: Annotated[Person, Depends(require_person(*READERS))],
    b: BackendsDep,
    as_of: Annotated[dt.date | None, Query()] = None,
) -> Response:
    """PAR per currency and product as of a date (loans' business date by default)."""
    gettext = translations(person.language).gettext
    page = service.par_page(b.loans, as_of=as_of, language=person.language, _=gettext)
    return render(request, "portfolio/par.html", {"page": page, "asked": as_of})


@router.get("/portfolio/par.csv")
def portfolio_at_risk_csv(
    person: Annotated[Person, Depends(require_person(*READERS))],
    b: BackendsDep,
    as_of: Annotated[dt.date | None, Query()] = None,
) -> Response:
    """Loans' PAR CSV: money as integer minor units (``*_minor`` columns) beside a currency column."""
    text, filename = service.par_csv(b.loans, as_of=as_of)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
