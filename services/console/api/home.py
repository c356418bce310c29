"""The start page: what the signed-in person can do, by role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.console.api.deps import EVERYONE, require_person
from services.console.navigation import areas_for
from services.console.pages import render
from services.console.service.sessions import Person

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request, person: Annotated[Person, Depends(require_person(*EVERYONE))]) -> Response:
    """Links to every area the person's role opens."""
    return render(request, "home.html", {"areas": areas_for(person.role)})
