"""Drift and fairness (auditors, admins): a segment's population stability (PSI per feature and
for the score, a chart and its table) and its adverse-impact report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.console.api.deps import AUDITORS, BackendsDep, require_person
from services.console.pages import N_, render, translations
from services.console.service import monitoring
from services.console.service.sessions import Person
from shared.http_client import UpstreamProblem

router = APIRouter(include_in_schema=False)

Auditor = Annotated[Person, Depends(require_person(*AUDITORS))]


@router.get("/monitoring")
def monitoring_page(
    request: Request,
    person: Auditor,
    b: BackendsDep,
    segment: Annotated[str, Query(max_length=40)] = "",
    since: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """One segment's PSI chart and table and its adverse impact (the first segment when none is chosen)."""
    names = monitoring.segments(b.scoring)
    values = {"segment": segment.strip() or (names[0] if names else ""), "since": since.strip()}
    errors: dict[str, str] = {}
    if values["segment"] not in names:
        errors["segment"] = N_("Choose one of scoring's segments.")
    start, problem = monitoring.parse_since(values["since"])
    if problem:
        errors["since"] = problem
    context: dict[str, Any] = {
        "values": values,
        "segments": [(name, name) for name in names],
        "errors": {k: translations(person.language).gettext(v) for k, v in errors.items()},
        "report": None,
        "report_problem": None,
        "stability": [],
        "psi_chart": None,
        "fairness": None,
        "threshold": monitoring.FOUR_FIFTHS,
    }
    if not errors:
        try:
            shown = monitoring.report(b.scoring, values["segment"], since=start, language=person.language)
        except UpstreamProblem as exc:  # e.g. a segment without a champion has no baseline
            context["report_problem"] = str(exc.problem.get("detail") or exc.problem.get("title") or "")
        else:
            context.update(
                report=shown.report,
                stability=shown.stability,
                psi_chart=shown.psi_chart,
                fairness=shown.fairness,
                threshold=shown.fairness.threshold if shown.fairness else monitoring.FOUR_FIFTHS,
            )
    return render(request, "monitoring/report.html", context, status_code=422 if errors else 200)
