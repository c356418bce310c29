"""The model registry pages (auditors, admins): each segment's versions and champion history,
and a version's model card."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.console.api.deps import AUDITORS, BackendsDep, require_person
from services.console.pages import render
from services.console.service import models
from services.console.service.sessions import Person

router = APIRouter(include_in_schema=False)

Auditor = Annotated[Person, Depends(require_person(*AUDITORS))]


@router.get("/models")
def registry(request: Request, person: Auditor, b: BackendsDep) -> Response:
    """Each segment: its versions (status, test metrics), its champion and its promotions."""
    return render(
        request,
        "models/registry.html",
        {
            "segments": models.registry(b.scoring),
            "metric_names": models.METRICS,
            "metric_labels": models.METRIC_LABELS,
            "status_labels": models.STATUS_LABELS,
        },
    )


@router.get("/models/{version}")
def model(request: Request, version: str, person: Auditor, b: BackendsDep) -> Response:
    """A version: its registry entry, every time it became champion, its model card and how its
    loans performed (scoring's chart and the figures)."""
    page = models.model_page(b.scoring, version, person.language)
    return render(
        request,
        "models/model.html",
        {
            "model": page.model,
            "created_by": page.created_by,
            "status_label": page.status_label,
            "promotions": page.promotions,
            "card_sections": page.card_sections,
            "card_problem": page.card_problem,
            "performance": page.performance,
            "performance_chart": page.performance_chart,
            "metric_names": models.METRICS,
            "metric_labels": models.METRIC_LABELS,
        },
    )
