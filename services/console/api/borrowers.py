"""Pages: borrowers — the list (find one by national id), registering a borrower, a borrower
with their applications and loans (personal data masked by role)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote
from uuid import uuid4

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from services.console.api.deps import (
    LENDING_READERS,
    OFFICERS,
    BackendsDep,
    FormDep,
    form_fields,
    posted_by,
    require_person,
)
from services.console.pages import render
from services.console.service import borrowers as service
from services.console.service.loans import form_problem
from services.console.service.sessions import Person
from shared.auth import Role
from shared.http_client import UpstreamProblem

router = APIRouter(include_in_schema=False)

REGISTRARS = OFFICERS
"""Who registers borrowers: loans' ``POST /v1/borrowers`` admits loan_officer, credit_manager, admin."""
APPLICANTS = (Role.LOAN_OFFICER, Role.ADMIN)
"""Who submits applications (loans' ``POST /v1/applications``): the page links them to the form."""
ID = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/borrowers")
def list_borrowers(
    request: Request,
    person: Annotated[Person, Depends(require_person(*LENDING_READERS))],
    b: BackendsDep,
    national_id: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Borrowers, a page at a time, or the one with a national id."""
    wanted = national_id.strip()
    listing = service.list_borrowers(b.loans, person.role, national_id=wanted or None, page=page)
    return render(
        request,
        "borrowers/list.html",
        {
            "listing": listing,
            "national_id": wanted,
            "page": page,
            "can_register": person.role in REGISTRARS,
        },
    )


def _form_page(
    request: Request,
    values: dict[str, str],
    errors: dict[str, str],
    *,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "borrowers/new.html",
        {
            "values": {name: values.get(name, "") for name in service.FORM_FIELDS},
            "errors": errors,
            # a fresh key each time the form is shown: a refused post did nothing, a double
            # submit of this form replays the first answer
            "idempotency_key": uuid4().hex,
        },
        status_code=status_code,
    )


@router.get("/borrowers/new")
def new_borrower(
    request: Request, person: Annotated[Person, Depends(require_person(*REGISTRARS))]
) -> Response:
    """The form to register a farmer or an enterprise."""
    return _form_page(request, {"type": "farmer"}, {})


@router.post("/borrowers/new")
def register_borrower(
    request: Request,
    person: Annotated[Person, Depends(posted_by(*REGISTRARS))],
    form: FormDep,
    b: BackendsDep,
) -> Response:
    """Register the borrower; refused values are shown beside their fields, nothing lost."""
    values = form_fields(form)
    key = values.get("idempotency_key") or uuid4().hex
    try:
        borrower = service.register_borrower(b.loans, values, idempotency_key=key)
    except UpstreamProblem as exc:
        if exc.status not in (409, 422):
            raise
        if exc.problem.get("current_state") == "exists":  # loans' only conflict: the national id
            errors = {"national_id": str(exc.problem.get("detail") or "")}
        else:
            errors = form_problem(exc.problem, {name: name for name in service.FORM_FIELDS})
        return _form_page(request, values, errors, status_code=exc.status)
    return RedirectResponse(f"/borrowers/{quote(borrower.id, safe='')}?registered=1", status_code=303)


@router.get("/borrowers/{borrower_id}")
def borrower(
    request: Request,
    borrower_id: ID,
    person: Annotated[Person, Depends(require_person(*LENDING_READERS))],
    b: BackendsDep,
    registered: bool = False,
) -> Response:
    """A borrower, their applications and their loans."""
    page = service.borrower_page(b.loans, person.role, borrower_id)
    return render(
        request,
        "borrowers/detail.html",
        {"page": page, "registered": registered, "can_apply": person.role in APPLICANTS},
    )
