"""Errors as pages: plain words, never a stack trace; the JSON routes keep problem+json.

A backing service that does not answer is named ("the loans service is not answering"), and
the page says what still works; a service's problem+json answer is shown by its ``detail``
and, for a refused form, beside the fields it names (the pages do that themselves).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.console.api.deps import CsrfRefused, LoginRequired, PageForbidden
from services.console.pages import N_, render
from shared.errors import ProblemError
from shared.http_client import ServiceUnreachable, UpstreamProblem

log = logging.getLogger("agrifin.console")

Handler = Callable[[Request, Exception], Awaitable[Response]]
JSON_PREFIXES = ("/v1/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs")

SERVICE_TITLES = {"scoring": N_("scoring"), "escrow": N_("escrow"), "loans": N_("loans")}
STILL_WORKS = {
    "scoring": N_("Applications, loans and repayments still work; score cards and the decision pages wait."),
    "escrow": N_("Lending pages still work; escrow pages wait until it answers."),
    "loans": N_("The decision explorer, models and escrow pages still work; lending pages wait."),
}


def error_page(
    request: Request,
    status: int,
    title: str,
    message: str,
    *,
    detail: str | None = None,
    hint: str | None = None,
) -> Response:
    """The error page."""
    return render(
        request,
        "error.html",
        {
            "title": title,
            "message": message,
            "detail": detail,
            "hint": hint,
            "status": status,
            "service": None,
        },
        status_code=status,
    )


def install_page_errors(app: FastAPI) -> None:
    """Render errors on pages as pages; JSON routes keep the handlers ``create_service_app`` set."""
    json_handlers: dict[type[Exception], Handler] = {
        cls: handler  # type: ignore[misc]
        for cls, handler in app.exception_handlers.items()
        if isinstance(cls, type)
    }

    def is_json(request: Request) -> bool:
        return request.url.path.startswith(JSON_PREFIXES)

    async def on_login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)

    async def on_forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageForbidden)
        return error_page(
            request,
            403,
            N_("Not for your role"),
            N_("Your role cannot open this page or take this action."),
            detail=exc.role.value,
        )

    async def on_csrf(request: Request, exc: Exception) -> Response:
        return error_page(
            request,
            403,
            N_("The form was refused"),
            N_("The form did not carry this session's security token, so nothing was done."),
            hint=N_("Go back, reload the page and send the form again."),
        )

    async def on_unreachable(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ServiceUnreachable)
        service = exc.service or "?"
        log.warning("console: %s unreachable: %s", service, exc)
        return render(
            request,
            "error.html",
            {
                "status": 503,
                "title": N_("A service is not answering"),
                "service": SERVICE_TITLES.get(service, service),
                "message": N_(
                    "The %(service)s service is not answering right now, so this page cannot be shown."
                ),
                "hint": STILL_WORKS.get(service),
                "detail": None,
            },
            status_code=503,
        )

    async def on_upstream(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, UpstreamProblem)
        status = exc.status if exc.status in (400, 403, 404, 409, 422) else 502
        detail = str(exc.problem.get("detail") or exc.problem.get("title") or "")
        titles = {404: N_("Not found"), 403: N_("Not allowed"), 409: N_("Not possible now")}
        return error_page(
            request,
            status,
            titles.get(status, N_("The service refused")),
            N_("The service answered:"),
            detail=detail,
        )

    def page_or_json(cls: type[Exception], title: str) -> Handler:
        async def handler(request: Request, exc: Exception) -> Response:
            if is_json(request) and cls in json_handlers:
                return await json_handlers[cls](request, exc)
            if isinstance(exc, RequestValidationError):
                fields = "; ".join(
                    f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors()
                )
                return error_page(request, 422, title, N_("Some values were not valid."), detail=fields)
            status = getattr(exc, "status_code", None) or getattr(exc, "status", None) or 500
            if status == 404:
                return error_page(request, 404, N_("Not found"), N_("There is no such page."))
            if status >= 500:
                log.exception("console: unexpected error on %s", request.url.path, exc_info=exc)
                return error_page(
                    request, 500, N_("Something went wrong"), N_("The page could not be shown.")
                )
            detail = getattr(exc, "detail", None)
            return error_page(
                request, int(status), title, N_("The request was refused."), detail=str(detail or "")
            )

        return handler

    app.add_exception_handler(LoginRequired, on_login_required)
    app.add_exception_handler(PageForbidden, on_forbidden)
    app.add_exception_handler(CsrfRefused, on_csrf)
    app.add_exception_handler(ServiceUnreachable, on_unreachable)
    app.add_exception_handler(UpstreamProblem, on_upstream)
    app.add_exception_handler(StarletteHTTPException, page_or_json(StarletteHTTPException, N_("Refused")))
    app.add_exception_handler(ProblemError, page_or_json(ProblemError, N_("Refused")))
    app.add_exception_handler(RequestValidationError, page_or_json(RequestValidationError, N_("Not valid")))
    app.add_exception_handler(Exception, page_or_json(Exception, N_("Something went wrong")))
