"""Pages: loans — the list (by status), a loan with its schedule, transactions and arrears, and
the actions its status and the person's role allow: Disburse and Post repayment.

The roles are loans' own: ``POST /v1/loans/{id}/disburse`` admits credit_manager and admin,
``POST /v1/loans/{id}/repayments`` loan_officer and admin. A control is rendered only when
both the loan's ``allowed_actions`` and the role permit it, and a post from any other role is
refused here (403 page) before loans is asked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode
from uuid import uuid4

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from services.console.api.deps import (
    DECIDERS,
    LENDING_READERS,
    BackendsDep,
    FormDep,
    form_fields,
    posted_by,
    require_person,
)
from services.console.domain.arrears import LOAN_STATUS_LABELS
from services.console.pages import render, translations
from services.console.service import loans as service
from services.console.service.backends import Backends
from services.console.service.sessions import Person
from shared.auth import Role
from shared.http_client import UpstreamProblem

router = APIRouter(include_in_schema=False)

DISBURSERS = DECIDERS
COLLECTORS = (Role.LOAN_OFFICER, Role.ADMIN)
ID = Annotated[str, Path(min_length=1, max_length=64)]
DONE = {"disbursed", "repaid"}


@router.get("/loans")
def list_loans(
    request: Request,
    person: Annotated[Person, Depends(require_person(*LENDING_READERS))],
    b: BackendsDep,
    status: Annotated[str, Query(max_length=16)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Loans, newest first, filtered by status, a page at a time."""
    chosen = status if status in LOAN_STATUS_LABELS else ""
    listing = service.list_loans(b.loans, person.role, status=chosen or None, page=page)
    return render(
        request,
        "loans/list.html",
        {
            "listing": listing,
            "status": chosen,
            "statuses": list(LOAN_STATUS_LABELS.items()),
            "page": page,
            "query": urlencode({"status": chosen}) if chosen else "",
        },
    )


def _translated(person: Person, errors: Mapping[str, service.Message]) -> dict[str, str]:
    gettext = translations(person.language).gettext
    return {field: gettext(message) % dict(params) for field, (message, params) in errors.items()}


def _loan_page(
    request: Request,
    person: Person,
    b: Backends,
    loan_id: str,
    *,
    repay: Mapping[str, str] | None = None,
    repay_errors: Mapping[str, str] | None = None,
    disburse: Mapping[str, str] | None = None,
    disburse_errors: Mapping[str, str] | None = None,
    done: str = "",
    status_code: int = 200,
) -> Response:
    page = service.loan_page(b.loans, person.role, loan_id)
    allowed = set(page.loan.allowed_actions)
    today = page.business_date.isoformat()
    context: dict[str, Any] = {
        "page": page,
        "loan": page.loan,
        "can_disburse": "disburse" in allowed and person.role in DISBURSERS,
        "can_repay": "repay" in allowed and person.role in COLLECTORS,
        "repay": {"amount": "", "date": today, "reference": "", **(repay or {})},
        "repay_errors": dict(repay_errors or {}),
        "disburse": {"disburse_date": today, **(disburse or {})},
        "disburse_errors": dict(disburse_errors or {}),
        # a fresh key each time the forms are shown: a refused post did nothing, and a double
        # submit of a form replays loans' first answer instead of acting twice
        "repay_key": uuid4().hex,
        "disburse_key": uuid4().hex,
        "done": done if done in DONE else "",
    }
    return render(request, "loans/detail.html", context, status_code=status_code)


@router.get("/loans/{loan_id}")
def loan(
    request: Request,
    loan_id: ID,
    person: Annotated[Person, Depends(require_person(*LENDING_READERS))],
    b: BackendsDep,
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """A loan: terms, schedule, transactions, arrears, and the actions the person may take."""
    return _loan_page(request, person, b, loan_id, done=done)


def _back_to(loan_id: str, done: str) -> Response:
    return RedirectResponse(f"/loans/{quote(loan_id, safe='')}?done={done}", status_code=303)


def _loan_form(
    request: Request,
    person: Person,
    b: Backends,
    loan_id: str,
    form: FormData,
    *,
    which: Literal["repay", "disburse"],
    act: Callable[..., object],
    fields: dict[str, str],
    done: str,
) -> Response:
    """Run one of the loan page's forms; refused values come back beside their fields, kept."""
    values = form_fields(form)
    key = values.get("idempotency_key") or uuid4().hex
    try:
        act(b.loans, loan_id, values, idempotency_key=key)
    except service.FormInvalid as refused:
        errors, status = _translated(person, refused.errors), 422
    except UpstreamProblem as exc:
        if exc.status not in (409, 422):
            raise
        errors, status = service.form_problem(exc.problem, fields), exc.status
    else:
        return _back_to(loan_id, done)
    if which == "repay":
        return _loan_page(request, person, b, loan_id, repay=values, repay_errors=errors, status_code=status)
    return _loan_page(
        request, person, b, loan_id, disburse=values, disburse_errors=errors, status_code=status
    )


@router.post("/loans/{loan_id}/disburse")
def disburse(
    request: Request,
    loan_id: ID,
    person: Annotated[Person, Depends(posted_by(*DISBURSERS))],
    form: FormDep,
    b: BackendsDep,
) -> Response:
    """Disburse the loan on the date given (loans refuses a date after its business date)."""
    return _loan_form(
        request,
        person,
        b,
        loan_id,
        form,
        which="disburse",
        act=service.disburse,
        fields=service.DISBURSE_FIELDS,
        done="disbursed",
    )


@router.post("/loans/{loan_id}/repayments")
def post_repayment(
    request: Request,
    loan_id: ID,
    person: Annotated[Person, Depends(posted_by(*COLLECTORS))],
    form: FormDep,
    b: BackendsDep,
) -> Response:
    """Post a repayment (amount in major units, date, reference); refused values beside their fields."""
    return _loan_form(
        request,
        person,
        b,
        loan_id,
        form,
        which="repay",
        act=service.post_repayment,
        fields=service.REPAYMENT_FIELDS,
        done="repaid",
    )
