"""Who may open which page, and the form checks every post passes (denied by default).

Every page declares the roles it admits with ``require_person(...)`` (a page for everyone
signed in: ``require_person(*EVERYONE)``); ``create_app`` refuses a route that declares
nothing. A visitor without a live session is sent to the sign-in page; a person whose role
the page does not admit gets a 403 page. Every form post also carries the session's CSRF
token (``posted_by``), compared in constant time; without it nothing happens.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import FormData

from services.console.service.backends import Backends, backends_for
from services.console.service.sessions import SESSION_COOKIE, Person, current_person, token_from_cookie
from services.console.settings import ConsoleContext
from shared.auth import ACCESS_MARKER, PERSON_ROLES, Role

EVERYONE = tuple(sorted(PERSON_ROLES))
DECIDERS = (Role.CREDIT_MANAGER, Role.ADMIN)
OFFICERS = (Role.LOAN_OFFICER, Role.CREDIT_MANAGER, Role.ADMIN)
LENDING_READERS = (Role.LOAN_OFFICER, Role.CREDIT_MANAGER, Role.AUDITOR, Role.ADMIN)
AUDITORS = (Role.AUDITOR, Role.ADMIN)
MARKET_OPS = (Role.MARKETPLACE, Role.AUDITOR, Role.ADMIN)


class LoginRequired(Exception):
    """No live session: the visitor is sent to sign in, then back to ``next_path``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageForbidden(Exception):
    """The person's role may not open this page or take this action."""

    def __init__(self, role: Role, allowed: tuple[Role, ...]) -> None:
        super().__init__(role.value)
        self.role = role
        self.allowed = allowed


class CsrfRefused(Exception):
    """A form post without the session's CSRF token."""


def console_context(request: Request) -> ConsoleContext:
    """The console's context."""
    ctx: ConsoleContext = request.app.state.ctx
    return ctx


ConsoleContextDep = Annotated[ConsoleContext, Depends(console_context)]


def _signed_in(request: Request, roles: tuple[Role, ...]) -> Person:
    ctx = console_context(request)
    person = current_person(ctx, token_from_cookie(ctx, request.cookies.get(SESSION_COOKIE)))
    if person is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target if request.method == "GET" else "/")
    request.state.person = person
    if person.role not in roles:
        raise PageForbidden(person.role, roles)
    return person


def require_person(*roles: Role) -> Callable[[Request], Person]:
    """A page dependency admitting signed-in people of ``roles`` only."""
    admitted = tuple(roles)

    def dependency(request: Request) -> Person:
        return _signed_in(request, admitted)

    setattr(dependency, ACCESS_MARKER, tuple(sorted(f"person:{r.value}" for r in admitted)))
    return dependency


def posted_by(*roles: Role) -> Callable[[Request], Awaitable[Person]]:
    """A form-post dependency: signed in with one of ``roles`` and the session's CSRF token sent."""
    admitted = tuple(roles)

    async def dependency(request: Request) -> Person:
        person = _signed_in(request, admitted)
        form = await request.form()
        sent = form.get("csrf_token")
        if not isinstance(sent, str) or not hmac.compare_digest(sent, person.csrf_token):
            raise CsrfRefused()
        request.state.form = form
        return person

    setattr(dependency, ACCESS_MARKER, tuple(sorted(f"person:{r.value}" for r in admitted)))
    return dependency


def posted_form(request: Request) -> FormData:
    """The form ``posted_by`` read (use after it in the signature)."""
    form: FormData = request.state.form
    return form


def form_fields(form: FormData) -> dict[str, str]:
    """A form's text fields, the CSRF token left out (to re-fill a form after a failed post)."""
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def backends(request: Request) -> Backends:
    """The services' typed clients acting for the request's person."""
    person: Person = request.state.person
    return backends_for(request.app.state.http, console_context(request), person)


BackendsDep = Annotated[Backends, Depends(backends)]
FormDep = Annotated[FormData, Depends(posted_form)]


def as_dict(values: Any) -> dict[str, Any]:
    """A model or mapping as a plain dict for a template."""
    if hasattr(values, "model_dump"):
        dumped: dict[str, Any] = values.model_dump(mode="python")
        return dumped
    return dict(values)
