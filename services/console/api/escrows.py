"""Escrow pages (read-only): the list, and one escrow's lots, money view and timeline.

Marketplace operators see their own marketplace's escrows only (escrow scopes by the acting
owner; another marketplace's escrow is its 404, shown as the not-found page); auditors and
admins see every escrow. No page here changes an escrow.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from services.console.api.deps import MARKET_OPS, BackendsDep, require_person
from services.console.pages import render
from services.console.service import escrows
from services.console.service.sessions import Person

router = APIRouter(include_in_schema=False)

MarketOps = Annotated[Person, Depends(require_person(*MARKET_OPS))]


@router.get("/escrows")
def escrow_list(
    request: Request,
    person: MarketOps,
    b: BackendsDep,
    status: Annotated[str, Query(pattern=escrows.STATUS_PATTERN)] = "",
    order_ref: Annotated[str, Query(max_length=128)] = "",
    page: Annotated[int, Query(ge=1, le=escrows.MAX_PAGE)] = 1,
) -> Response:
    """Escrows the person may see, newest first, by status and order reference."""
    listing = escrows.escrow_list(b.escrow, status=status, order_ref=order_ref.strip(), page=page)
    return render(
        request,
        "escrows/list.html",
        {"listing": listing, "statuses": list(escrows.ESCROW_STATUSES.items())},
    )


@router.get("/escrows/{escrow_id}")
def escrow_page(
    request: Request,
    person: MarketOps,
    b: BackendsDep,
    escrow_id: Annotated[str, Path(min_length=1, max_length=64)],
) -> Response:
    """One escrow: its lots, the money view and the timeline."""
    return render(request, "escrows/detail.html", {"detail": escrows.escrow_detail(b.escrow, escrow_id)})
