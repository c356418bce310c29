"""Monitoring: population stability and fairness of recent decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Query

from services.scoring.api.deps import Inspector, ScoringContextDep, StoreDep
from services.scoring.schemas import StabilityReport
from services.scoring.service.monitoring import stability_report
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
