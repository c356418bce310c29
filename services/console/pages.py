"""Rendering pages: one Jinja2 environment per language, with the catalogue (Babel, gettext)
installed and the locale's formatting as filters.

Templates mark text with ``{{ _("...") }}`` / ``{% trans %}``; Python code marks text it hands
to a template with ``N_("...")`` (extracted, translated when rendered). The catalogues are
``locale/<lang>/LC_MESSAGES/messages.po``, compiled in memory at start; ``make catalogues``
re-extracts ``locale/messages.pot`` and updates them.
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import escape

from services.console import navigation
from services.console.domain import formatting
from services.console.domain.catalogue import N_, role_label
from services.console.domain.feature_labels import category_label, feature_label
from services.console.domain.formatting import LANGUAGES

__all__ = ["N_", "environment", "render", "translations"]

PACKAGE = Path(__file__).resolve().parent
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"
LOCALE = PACKAGE / "locale"


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``language`` (English is the source: no catalogue)."""
    if language == "en":
        return gettext.NullTranslations()
    with (LOCALE / language / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh, locale=formatting.babel_locale(language))
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


@cache
def environment(language: str) -> Environment:
    """The Jinja2 environment that renders pages in ``language``."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "xml", "svg"]),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    catalogue = translations(language)
    # Jinja marks a translation safe; escaping it first means a message is always text, even when
    # a template translates a value that came from a service. Variables are escaped by Markup's %.
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda message: str(escape(catalogue.gettext(message))),
        ngettext=lambda singular, plural, n: str(escape(catalogue.ngettext(singular, plural, n))),
        newstyle=True,
    )
    env.filters.update(
        money=lambda minor, currency: formatting.money(minor, currency, language),
        number=lambda value, digits=2: formatting.number(value, language, digits=digits),
        percent=lambda value, digits=1: formatting.percent(value, language, digits=digits),
        day=lambda value: formatting.day(value, language),
        moment=lambda value: formatting.moment(value, language),
    )
    env.globals["languages"] = LANGUAGES
    env.globals["nav_areas"] = navigation.areas_for
    env.globals["current_area"] = navigation.current_area
    env.globals["role_label"] = role_label
    env.globals["feature_label"] = feature_label
    env.globals["category_label"] = category_label
    env.globals["language"] = language
    return env


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    language: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render ``template`` for the request's person (their language, CSRF token, navigation)."""
    person = getattr(request.state, "person", None)
    lang = language or (person.language if person is not None else _browser_language(request))
    values: dict[str, Any] = {
        "request": request,
        "person": person,
        "csrf_token": person.csrf_token if person is not None else None,
        "path": request.url.path,
    }
    values.update(context or {})
    html = environment(lang).get_template(template).render(values)
    return HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))


def _browser_language(request: Request) -> str:
    """Before sign-in: the browser's preference between the console's languages."""
    accepted = request.headers.get("accept-language", "").lower()
    return "zh" if accepted.startswith("zh") else "en"
