"""Model performance (auditors, admins): how a segment's scored loans turned out against what
their scores predicted, per model version and as of a date (scoring's performance report)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.console.api.deps import AUDITORS, BackendsDep, require_person
from services.console.pages import N_, render, translations
from services.console.service import performance
from services.console.service.sessions import Person
from shared.http_client import UpstreamProblem

router = APIRouter(include_in_schema=False)

Auditor = Annotated[Person, Depends(require_person(*AUDITORS))]


@router.get("/performance")
def performance_page(
    request: Request,
    person: Auditor,
    b: BackendsDep,
    segment: Annotated[str, Query(max_length=40)] = "",
    model_version: Annotated[str, Query(max_length=80)] = "",
    as_of: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """One segment's performance report (the first segment when none is chosen)."""
    gettext = translations(person.language).gettext
    names = performance.segments(b.scoring)
    values = {
        "segment": segment.strip() or (names[0] if names else ""),
        "model_version": model_version.strip(),
        "as_of": as_of.strip(),
    }
    errors: dict[str, str] = {}
    versions: list[str] = []
    if values["segment"] not in names:
        errors["segment"] = N_("Choose one of scoring's segments.")
    else:
        versions = performance.versions(b.scoring, values["segment"])
        if values["model_version"] and values["model_version"] not in versions:
            errors["model_version"] = N_("Choose one of this segment's model versions.")
    day, problem = performance.parse_as_of(values["as_of"])
    if problem:
        errors["as_of"] = problem
    context: dict[str, Any] = {
        "values": values,
        "segments": [(name, name) for name in names],
        "versions": [("", gettext("Every version")), *((v, v) for v in versions)],
        "errors": {k: gettext(v) for k, v in errors.items()},
        "page": None,
        "report_problem": None,
        "months": performance.MONTHS,
    }
    if not errors:
        try:
            context["page"] = performance.page(
                b.scoring,
                values["segment"],
                model_version=values["model_version"] or None,
                as_of=day,
                language=person.language,
            )
        except UpstreamProblem as exc:  # the segment or version gone since the form was drawn
            context["report_problem"] = str(exc.problem.get("detail") or exc.problem.get("title") or "")
    return render(request, "performance/report.html", context, status_code=422 if errors else 200)
