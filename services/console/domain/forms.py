"""Problems a service answered, as the messages a form shows beside its fields (pure)."""

from __future__ import annotations

from typing import Any


def field_errors(
    problem: dict[str, Any], *, prefixes: tuple[str, ...] = ("body.", "query.")
) -> dict[str, str]:
    """``{"field": "message"}`` from a problem's ``errors`` (``features.land_area_ha`` style names);
    the problem's ``detail`` under ``""`` when it names no field."""
    out: dict[str, str] = {}
    for item in problem.get("errors") or []:
        if not isinstance(item, dict):
            continue
        name = str(item.get("field") or "")
        for prefix in prefixes:
            if name.startswith(prefix):
                name = name[len(prefix) :]
        message = str(item.get("message") or "not valid")
        out[name] = f"{out[name]}; {message}" if name in out else message
    if not out:
        out[""] = str(problem.get("detail") or problem.get("title") or "refused")
    return out
