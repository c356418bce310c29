"""Monitoring: population stability and fairness of recent decisions; performance against outcomes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Query

from services.scoring.api.deps import Inspector, ScoringContextDep, StoreDep
from services.scoring.schemas import StabilityReport
from services.scoring.schemas.performance import PerformanceReport
from services.scoring.service.monitoring import stability_report
from services.scoring.service.performance import segment_performance
from shared.api import SessionDep, service_router
from shared.clock import as_utc

router = service_router(prefix="/v1", tags=["monitoring"])


@router.get("/monitoring/psi", response_model=StabilityReport)
def population_stability(
    ctx: ScoringContextDep,
    session: SessionDep,
    store: StoreDep,
    _: Inspector,
    segment: Annotated[str, Query(max_length=40)],
    since: Annotated[datetime | None, Query(description="ISO-8601; default: the monitoring window")] = None,
) -> dict[str, Any]:
    """PSI of scores and each feature vs the champion's training baseline (0.1 / 0.25 bands), each
    with its bins' expected and actual shares (to chart), and the adverse impact ratio of approve
    hints by the monitoring group."""
    return stability_report(
        session, ctx, store, segment=segment, since=as_utc(since) if since is not None else None
    )


@router.get("/monitoring/performance", response_model=PerformanceReport)
def performance(
    ctx: ScoringContextDep,
    session: SessionDep,
    _: Inspector,
    segment: Annotated[str, Query(max_length=40)],
    model_version: Annotated[str | None, Query(max_length=64)] = None,
    as_of: Annotated[date | None, Query(description="YYYY-MM-DD; default: today (UTC)")] = None,
) -> dict[str, Any]:
    """How scored loans performed: realised default rate (90 days past due or written off within
    12 months of disbursement) vs mean predicted PD per grade, AUC and KS on matured loans,
    vintage curves by disbursement month, and the adverse impact ratio on approvals and on
    outcomes. Every rate has its count; with too little data a figure is null with a note."""
    return segment_performance(session, ctx, segment=segment, model_version=model_version, as_of=as_of)
