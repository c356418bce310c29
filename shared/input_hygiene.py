"""Input hygiene for every route (``shared.api.ServiceRoute`` runs it before the endpoint).

- a body larger than the limit is a 413, a body that is not JSON a 415 (``check_body``);
- input no column can hold is a 422 naming where (``refuse_hostile_input``): a NUL character in
  the path, a query value or any JSON string, an integer outside (-2^63, 2^63) in an integer
  query or path parameter or anywhere in the body, a number overflowing to infinity, NaN. The
  body is parsed once, here, and handed to FastAPI, so what is validated is what was checked.
"""

from __future__ import annotations

import json
import math
import typing
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant

from shared.errors import PayloadTooLarge, UnsupportedMediaType, ValidationProblem

BODY_METHODS = {"POST", "PUT", "PATCH"}

INT64_LIMIT = 2**63
"""Integers must lie strictly between -2^63 and 2^63 (a BIGINT, either backend)."""


class _Refused:
    """A JSON value the hooks of ``json.loads`` refused (found again by ``_hostile_json``)."""

    def __init__(self, message: str) -> None:
        self.message = message


_INT64_MESSAGE = "integers must lie between -2^63 and 2^63 (exclusive)"


def _beyond_int64(digits: str) -> bool:
    """True for a string of decimal digits (no sign) that no BIGINT holds."""
    return len(digits) > 19 or int(digits) >= INT64_LIMIT


def _json_int(text: str) -> int | _Refused:
    return _Refused(_INT64_MESSAGE) if _beyond_int64(text.lstrip("-")) else int(text)


def _json_float(text: str) -> float | _Refused:
    value = float(text)
    return value if math.isfinite(value) else _Refused("numbers must be finite")


def _json_constant(text: str) -> _Refused:
    return _Refused(f"{text} is not a JSON number")


def _shown(name: str) -> str:
    return name.replace("\x00", "\\u0000")


def _hostile_json(document: Any) -> list[tuple[str, str]]:
    """Every NUL-bearing string and refused number in a parsed body, named by its path."""
    errors: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            for name, item in value.items():
                path = f"{where}.{_shown(name)}" if where else _shown(name)
                if "\x00" in name:
                    errors.append((path, "names must not contain NUL characters"))
                stack.append((path, item))
        elif isinstance(value, list):
            stack.extend((f"{where}.{i}" if where else str(i), item) for i, item in enumerate(value))
        elif isinstance(value, str) and "\x00" in value:
            errors.append((where or "body", "must not contain NUL characters"))
        elif isinstance(value, _Refused):
            errors.append((where or "body", value.message))
    return sorted(errors)


def _out_of_range(text: str) -> bool:
    unsigned = text.strip().replace("_", "").removeprefix("-").removeprefix("+")
    return unsigned.isdigit() and _beyond_int64(unsigned)


def _is_int(annotation: Any) -> bool:
    if annotation is bool:
        return False
    if annotation is int:
        return True
    return any(_is_int(arg) for arg in typing.get_args(annotation))


def int_params(dependant: Dependant) -> set[str]:
    """The query and path parameters of a dependant tree that are integers."""
    names = {
        f.alias for f in [*dependant.query_params, *dependant.path_params] if _is_int(f.field_info.annotation)
    }
    for sub in dependant.dependencies:
        names |= int_params(sub)
    return names


def refuse_hostile_input(request: Request, body: bytes, int_params: frozenset[str]) -> None:
    """422 for a NUL in the path, a query or a JSON string, and for numbers no column holds.

    The body is parsed once, here, and handed to FastAPI (``request._json``), so what is
    validated is exactly what was checked.
    """
    errors: list[tuple[str, str]] = []
    if "\x00" in request.scope.get("path", ""):
        errors.append(("path", "must not contain NUL characters"))
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            errors.append((f"query.{_shown(name)}", "must not contain NUL characters"))
        elif name in int_params and _out_of_range(value):
            errors.append((f"query.{name}", _INT64_MESSAGE))
    for name, value in request.path_params.items():
        if isinstance(value, str) and name in int_params and _out_of_range(value):
            errors.append((f"path.{name}", _INT64_MESSAGE))
    if body and _is_json(_media_type(request)):
        try:
            document = json.loads(
                body, parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant
            )
        except (ValueError, RecursionError):
            document = None  # not JSON: FastAPI answers with its own 422 (or 400)
        else:
            errors.extend(_hostile_json(document))
            if not errors:
                request._json = document
    if errors:
        raise ValidationProblem(errors)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json")


def check_body(request: Request, body: bytes, limit: int) -> None:
    if len(body) > limit:
        raise PayloadTooLarge(f"request body is {len(body)} bytes; the limit is {limit}")
    if request.method in BODY_METHODS and body:
        media = _media_type(request)
        if not _is_json(media):
            raise UnsupportedMediaType(
                f"request bodies must be application/json, got {media or 'no content type'!r}"
            )
