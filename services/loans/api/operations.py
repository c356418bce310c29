"""Routes: the business date, close of business, and portfolio at risk (JSON and CSV)."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import Query, Response
from fastapi.responses import PlainTextResponse

from services.loans.api.deps import Admin, DateReader, LoansContextDep, PortfolioReader, RunReader
from services.loans.presenters import correction_out
from services.loans.schemas.operations import (
    BusinessDateIn,
    BusinessDateOut,
    CobIn,
    CorrectionIn,
    CorrectionList,
    CorrectionOut,
)
from services.loans.service import business_date, cob, portfolio
from shared.api import SessionDep, service_router
from shared.jobs import JobOut, accepted

router = service_router(prefix="/v1", tags=["operations"])


@router.get("/business-date", response_model=BusinessDateOut)
def get_business_date(ctx: LoansContextDep, session: SessionDep, _: DateReader) -> BusinessDateOut:
    """The business date loans run on."""
    return BusinessDateOut(**business_date.business_date_view(session, ctx))


@router.post("/business-date", response_model=BusinessDateOut)
def set_business_date(
    body: BusinessDateIn, ctx: LoansContextDep, session: SessionDep, who: Admin
) -> BusinessDateOut:
    """Move the business date forward (by at most the configured days; back is a correction)."""
    return BusinessDateOut(**business_date.set_business_date(session, ctx, actor=who.actor, value=body.date))


@router.post("/business-date/corrections", status_code=201, response_model=CorrectionOut)
def propose_business_date_correction(
    body: CorrectionIn, ctx: LoansContextDep, session: SessionDep, who: Admin
) -> CorrectionOut:
    """Propose correcting the business date (only while no later day has been closed)."""
    return correction_out(
        business_date.propose_correction(session, ctx, who=who, value=body.date, reason=body.reason)
    )


@router.post("/business-date/corrections/{correction_id}/confirm", response_model=CorrectionOut)
def confirm_business_date_correction(
    correction_id: str, ctx: LoansContextDep, session: SessionDep, who: Admin
) -> CorrectionOut:
    """Confirm a proposed correction (an admin other than its proposer); the date moves."""
    return correction_out(
        business_date.confirm_correction(session, ctx, who=who, correction_id=correction_id)
    )


@router.get("/business-date/corrections", response_model=CorrectionList)
def list_business_date_corrections(
    session: SessionDep, _: RunReader, limit: int = Query(default=30, ge=1, le=366)
) -> CorrectionList:
    """The latest corrections of the business date, newest first."""
    return CorrectionList(
        corrections=[correction_out(c) for c in business_date.list_corrections(session, limit=limit)]
    )


@router.post("/close-of-business", status_code=202, response_model=JobOut)
def close_of_business(
    ctx: LoansContextDep, session: SessionDep, response: Response, who: Admin, body: CobIn | None = None
) -> JobOut:
    """Queue close of business for a date (default: the business date); a re-run changes nothing.

    Answers 202 with the job to poll at ``GET /v1/jobs/{id}``; its result is the COB summary.
    """
    job = cob.enqueue_close_of_business(session, ctx, as_of=body.date if body else None, actor=who.actor)
    return accepted(response, job)


@router.get("/close-of-business/runs")
def list_cob_runs(
    session: SessionDep, _: RunReader, limit: int = Query(default=30, ge=1, le=366)
) -> dict[str, Any]:
    """The latest close-of-business runs."""
    return {"runs": cob.list_cob_runs(session, limit=limit)}


@router.get("/portfolio/par")
def portfolio_at_risk(
    ctx: LoansContextDep, session: SessionDep, _: PortfolioReader, as_of: date | None = None
) -> dict[str, Any]:
    """PAR1/PAR30/PAR90 by outstanding principal, with counts, per product and in total."""
    return portfolio.par_report(session, as_of=as_of or business_date.business_date(session, ctx))


@router.get(
    "/portfolio/par.csv",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "PAR as CSV"}},
)
def portfolio_at_risk_csv(
    ctx: LoansContextDep, session: SessionDep, _: PortfolioReader, as_of: date | None = None
) -> PlainTextResponse:
    """The PAR report as CSV (one line per product, one ``ALL`` line per currency)."""
    report = portfolio.par_report(session, as_of=as_of or business_date.business_date(session, ctx))
    filename = f"par-{report['as_of']}.csv"
    return PlainTextResponse(
        portfolio.par_csv(report),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
