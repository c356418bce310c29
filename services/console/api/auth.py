"""Signing in and out, and the language switch.

The sign-in form is protected by a double-submit token (a cookie and a form field that must
match) because there is no session yet; every later form carries the session's CSRF token.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from services.console.api.deps import EVERYONE, ConsoleContextDep, FormDep, posted_by
from services.console.pages import N_, render
from services.console.service import users
from services.console.service.sessions import (
    SESSION_COOKIE,
    Person,
    cookie_value,
    end_session,
    start_session,
    token_from_cookie,
)
from services.console.settings import ConsoleContext
from shared.auth import public_access

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "agrifin_login_csrf"


def safe_next(target: str | None) -> str:
    """Only a path on this site (``/x``), never ``//host`` or ``https://elsewhere``."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _login_page(
    request: Request,
    ctx: ConsoleContext,
    *,
    username: str = "",
    next_path: str = "/",
    error: str | None = None,
    status_code: int = 200,
    until: str | None = None,
) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        {
            "username": username,
            "next": safe_next(next_path),
            "error": error,
            "login_csrf": token,
            "until": until,
        },
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=ctx.settings.secure_cookies,
        max_age=3600,
        path="/login",
    )
    return response


@router.get("/login", dependencies=[Depends(public_access())])
def login_form(request: Request, ctx: ConsoleContextDep, next: str = "/") -> Response:
    """The sign-in page."""
    return _login_page(request, ctx, next_path=next)


@router.post("/login", dependencies=[Depends(public_access())])
def sign_in(
    request: Request,
    ctx: ConsoleContextDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    login_csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the credentials (throttled per user and address) and open a session."""
    username = username.strip().lower()
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, login_csrf):
        return _login_page(
            request,
            ctx,
            username=username,
            next_path=next,
            status_code=403,
            error=N_("The sign-in form had expired. Please sign in again."),
        )
    address = request.client.host if request.client else "unknown"
    try:
        with ctx.db.unit_of_work(gated=True) as session:
            user = users.check_credentials(
                session, ctx, username=username, password=password, address=address
            )
            session.expunge(user)
    except users.SignInRefused as refused:
        if refused.reason == "throttled":
            until = refused.until.strftime("%H:%M UTC") if refused.until else ""
            return _login_page(
                request,
                ctx,
                username=username,
                next_path=next,
                status_code=429,
                error=N_("Too many failed sign-ins. Sign-in is locked until %(until)s."),
                until=until,
            )
        with ctx.db.unit_of_work(gated=True) as session:
            users.record_failure(session, ctx, username=username, address=address)
        return _login_page(
            request,
            ctx,
            username=username,
            next_path=next,
            status_code=401,
            error=N_("The username or password is not right, or the account is disabled."),
        )
    token = start_session(ctx, user, address=address)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        cookie_value(ctx, token),
        httponly=True,
        samesite="strict",
        secure=ctx.settings.secure_cookies,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def sign_out(
    request: Request, ctx: ConsoleContextDep, _: Annotated[Person, Depends(posted_by(*EVERYONE))]
) -> Response:
    """End the session."""
    end_session(ctx, token_from_cookie(ctx, request.cookies.get(SESSION_COOKIE)))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/language")
def switch_language(
    ctx: ConsoleContextDep, person: Annotated[Person, Depends(posted_by(*EVERYONE))], form: FormDep
) -> Response:
    """Switch between English and 中文; remembered for the person."""
    language = str(form.get("language", ""))
    with ctx.db.unit_of_work(gated=True) as session:
        users.set_language(session, person.user_id, language)
    return RedirectResponse(safe_next(str(form.get("next", "/"))), status_code=303)
