"""Applications: the review queue, the application form, the application page with its score
card, approving and rejecting (credit managers), and the adverse-action notice (page and PDF).

| page | who |
| --- | --- |
| review queue, application page, notice | loan_officer, credit_manager, auditor, admin |
| new application | loan_officer, admin (loans' ``Officer``) |
| approve, reject | credit_manager, admin (loans' ``Manager``); nobody else sees the buttons |
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from services.console.api.deps import (
    DECIDERS,
    LENDING_READERS,
    BackendsDep,
    FormDep,
    console_context,
    form_fields,
    posted_by,
    require_person,
)
from services.console.domain.notice import NOTICE_TEXTS
from services.console.domain.scorecard import (
    GRADES,
    HINT_LABELS,
    HINTS,
    STATUS_LABELS,
    STATUSES,
    TYPE_LABELS,
    Problem,
    shown_value,
)
from services.console.pages import N_, render, translations
from services.console.service import applications as service
from services.console.service.notices import notice_pdf
from services.console.service.sessions import Person
from shared.auth import Role
from shared.http_client import UpstreamProblem

router = APIRouter(include_in_schema=False)

SUBMITTERS = (Role.LOAN_OFFICER, Role.ADMIN)
"""Who submits applications (loans' ``Officer``)."""
NEEDS_NOTE = N_("The score's decision hint is decline: write a note to approve over it.")

Reader = Annotated[Person, Depends(require_person(*LENDING_READERS))]
Submitter = Annotated[Person, Depends(require_person(*SUBMITTERS))]
Decider = Annotated[Person, Depends(require_person(*DECIDERS))]
SubmitterPost = Annotated[Person, Depends(posted_by(*SUBMITTERS))]
DeciderPost = Annotated[Person, Depends(posted_by(*DECIDERS))]


def _said(person: Person, problems: Mapping[str, Problem]) -> dict[str, str]:
    """Problems as messages in the person's language."""
    gettext = translations(person.language).gettext
    out: dict[str, str] = {}
    for name, problem in problems.items():
        text = gettext(problem.message) if problem.message else ""
        out[name] = text % dict(problem.params) if problem.params else text
    return out


def _new_key() -> str:
    return uuid.uuid4().hex


def _key(form: FormData) -> str:
    sent = form.get("idempotency_key")
    return sent if isinstance(sent, str) and 0 < len(sent) <= 100 else _new_key()


def _note(form: FormData) -> str | None:
    note = form.get("note")
    return note.strip() if isinstance(note, str) and note.strip() else None


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 1_000_000 else 1


LABELS: dict[str, Any] = {
    "statuses": STATUSES,
    "status_labels": STATUS_LABELS,
    "hints": HINTS,
    "hint_labels": HINT_LABELS,
    "grades": GRADES,
    "type_labels": TYPE_LABELS,
    "shown_value": shown_value,
}


@router.get("/applications")
def review_queue(request: Request, person: Reader, b: BackendsDep) -> Response:
    """The review queue: oldest first, filtered by status, hint, grade and product, paginated."""
    filters = service.QueueFilters.from_query(dict(request.query_params))
    page = service.review_queue(
        b,
        person,
        filters,
        page=_page_number(request),
        now=console_context(request).clock.now(),
        page_size=service.PAGE_SIZE,
    )
    return render(
        request,
        "applications/queue.html",
        {"page": page, "can_submit": person.role in SUBMITTERS, **LABELS},
    )


def _form_page(
    request: Request, form: service.ApplicationForm, person: Person, status: int = 200
) -> Response:
    return render(
        request,
        "applications/new.html",
        {"form": form, "errors": _said(person, form.problems), **LABELS},
        status_code=status,
    )


@router.get("/applications/new")
def new_application(request: Request, person: Submitter, b: BackendsDep) -> Response:
    """The application form (first the borrower, then the terms and the segment's features)."""
    values = {
        k: v
        for k, v in request.query_params.items()
        if k in ("borrower_id", "product_id") and 0 < len(v) <= 36
    }
    form = service.application_form(
        b, person, values, idempotency_key=_new_key(), today=console_context(request).clock.now().date()
    )
    return _form_page(request, form, person)


@router.post("/applications")
def submit_application(request: Request, person: SubmitterPost, form: FormDep, b: BackendsDep) -> Response:
    """Submit; 303 to the application, or the form again with each problem beside its field."""
    values = {k: v for k, v in form_fields(form).items() if k != "idempotency_key"}
    outcome = service.submit_application(
        b, person, values, idempotency_key=_key(form), today=console_context(request).clock.now().date()
    )
    if isinstance(outcome, service.Submitted):
        return RedirectResponse(f"/applications/{outcome.application.id}", status_code=303)
    return _form_page(request, outcome, person, status=422 if outcome.problems else 200)


def _application(
    request: Request,
    person: Person,
    b: BackendsDep,
    application_id: str,
    *,
    problem: Problem | None = None,
    note: str = "",
    status: int = 200,
) -> Response:
    page = service.application_page(b, person, application_id)
    return render(
        request,
        "applications/detail.html",
        {
            "page": page,
            "app": page.application,
            "decision_error": _said(person, {"": problem})[""] if problem else None,
            "note": note,
            "idempotency_key": _new_key(),
            **LABELS,
        },
        status_code=status,
    )


@router.get("/applications/{application_id}")
def application(request: Request, application_id: str, person: Reader, b: BackendsDep) -> Response:
    """The application: borrower, terms, schedule preview, score card; the decision buttons."""
    return _application(request, person, b, application_id)


@router.post("/applications/{application_id}/approve")
def approve(
    request: Request, application_id: str, person: DeciderPost, form: FormDep, b: BackendsDep
) -> Response:
    """Approve (credit managers); maker-checker refusals are said plainly on the page."""
    note = _note(form)
    current = b.loans.application(application_id)
    if current.score is not None and current.score.decision_hint == "decline" and note is None:
        return _application(request, person, b, application_id, problem=Problem(NEEDS_NOTE), status=422)
    try:
        service.approve(b, application_id, note=note, idempotency_key=_key(form))
    except UpstreamProblem as exc:
        if exc.status not in (403, 409, 422):
            raise
        return _application(
            request,
            person,
            b,
            application_id,
            problem=service.refusal(exc),
            note=note or "",
            status=exc.status,
        )
    return RedirectResponse(f"/applications/{application_id}", status_code=303)


def _reject_page(
    request: Request,
    person: Person,
    b: BackendsDep,
    application_id: str,
    *,
    problem: Problem | None = None,
    note: str = "",
    status: int = 200,
) -> Response:
    current = b.loans.application(application_id)
    return render(
        request,
        "applications/reject.html",
        {
            "app": current,
            "reasons": service.reasons_to_send(b, person, current),
            "can_reject": "reject" in current.allowed_actions,
            "error": _said(person, {"": problem})[""] if problem else None,
            "note": note,
            "idempotency_key": _new_key(),
            **LABELS,
        },
        status_code=status,
    )


@router.get("/applications/{application_id}/reject")
def reject_form(request: Request, application_id: str, person: Decider, b: BackendsDep) -> Response:
    """What a rejection sends: the principal reasons, then the confirmation form."""
    return _reject_page(request, person, b, application_id)


@router.post("/applications/{application_id}/reject")
def reject(
    request: Request, application_id: str, person: DeciderPost, form: FormDep, b: BackendsDep
) -> Response:
    """Reject; 303 to the adverse-action notice."""
    note = _note(form)
    try:
        service.reject(b, application_id, note=note, idempotency_key=_key(form))
    except UpstreamProblem as exc:
        if exc.status not in (403, 409, 422):
            raise
        return _reject_page(
            request,
            person,
            b,
            application_id,
            problem=service.refusal(exc),
            note=note or "",
            status=exc.status,
        )
    return RedirectResponse(f"/applications/{application_id}/notice", status_code=303)


def _no_notice(request: Request) -> Response:
    return render(
        request,
        "error.html",
        {
            "status": 404,
            "title": N_("No notice"),
            "message": N_("This application was not rejected, so it has no adverse-action notice."),
            "detail": None,
            "hint": None,
            "service": None,
        },
        status_code=404,
    )


@router.get("/applications/{application_id}/notice")
def notice(request: Request, application_id: str, person: Reader, b: BackendsDep) -> Response:
    """The adverse-action notice, printable."""
    found = service.adverse_notice(b, person, application_id)
    if found is None:
        return _no_notice(request)
    return render(request, "applications/notice.html", {"notice": found, "t": NOTICE_TEXTS})


@router.get("/applications/{application_id}/notice.pdf")
def notice_as_pdf(request: Request, application_id: str, person: Reader, b: BackendsDep) -> Response:
    """The adverse-action notice as a PDF download."""
    found = service.adverse_notice(b, person, application_id)
    if found is None:
        return _no_notice(request)
    pdf = notice_pdf(found, language=person.language, gettext=translations(person.language).gettext)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{found.filename}"'},
    )
