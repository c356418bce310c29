"""Use cases of the borrower pages: the list (or the borrower with a national id), registering a
borrower, and one borrower with their applications and loans, through loans' API.

Personal data (name, national id, phone) is shown whole only to the roles that work with
borrowers and masked to everyone else (``domain.masking``); what a page holds is already
masked, so a template cannot show more than the role may see.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, cast

from services.console.domain.arrears import (
    APPLICATION_STATUS_LABELS,
    BORROWER_TYPE_LABELS,
    DECISION_HINT_LABELS,
    label,
)
from services.console.domain.masking import may_see_personal_data, shown_identifier, shown_name
from services.console.domain.paging import PAGE_SIZE
from services.console.service.loans import LoanRow, loan_rows, product_names
from shared.clients.loans import Borrower, LoansClient

RELATED_LIMIT = 50
"""Most applications and loans a borrower's page lists (newest first)."""
FORM_FIELDS = ("type", "name", "national_id", "phone", "region")


@dataclass(frozen=True)
class BorrowerRow:
    """A borrower as a page shows them to one role (personal data masked as it must be)."""

    id: str
    type: str
    type_label: str
    name: str
    national_id: str
    phone: str | None
    region: str | None
    created_at: dt.datetime
    masked: bool


@dataclass(frozen=True)
class BorrowerList:
    """A page of borrowers and whether another follows."""

    rows: list[BorrowerRow]
    has_next: bool


@dataclass(frozen=True)
class ApplicationRow:
    """One of a borrower's applications."""

    id: str
    submitted_at: dt.datetime
    product: str
    principal_minor: int
    currency: str
    status_label: str
    score: Decimal | None
    grade: str | None
    decision_hint: str | None
    loan_id: str | None


@dataclass(frozen=True)
class BorrowerPage:
    """A borrower with their applications and loans."""

    borrower: BorrowerRow
    applications: list[ApplicationRow]
    loans: list[LoanRow]
    more_applications: bool
    more_loans: bool


def shown(borrower: Borrower, role: str) -> BorrowerRow:
    """A borrower as ``role`` may see them."""
    return BorrowerRow(
        id=borrower.id,
        type=borrower.type,
        type_label=label(BORROWER_TYPE_LABELS, borrower.type),
        name=shown_name(borrower.name, role),
        national_id=shown_identifier(borrower.national_id, role) or "",
        phone=shown_identifier(borrower.phone, role),
        region=borrower.region,
        created_at=borrower.created_at,
        masked=not may_see_personal_data(role),
    )


def list_borrowers(
    client: LoansClient, role: str, *, national_id: str | None, page: int, page_size: int = PAGE_SIZE
) -> BorrowerList:
    """A page of borrowers (oldest first), or the one whose national id is ``national_id``
    (loans finds it by a keyed hash; nothing is decrypted to search)."""
    if national_id:
        return BorrowerList([shown(b, role) for b in client.borrowers(national_id=national_id)], False)
    found = client.borrowers(limit=page_size + 1, offset=(page - 1) * page_size)
    return BorrowerList([shown(b, role) for b in found[:page_size]], len(found) > page_size)


def register_borrower(client: LoansClient, values: Mapping[str, str], *, idempotency_key: str) -> Borrower:
    """Register the borrower a form describes (empty optional fields left out); loans checks
    every value and answers a 422 naming the field it refuses (``UpstreamProblem``)."""

    def optional(name: str) -> str | None:
        value = values.get(name, "").strip()
        return value or None

    return client.create_borrower(
        # loans refuses any other type with a 422 naming ``type``
        type=cast(Literal["farmer", "enterprise"], values.get("type", "")),
        name=values.get("name", "").strip(),
        national_id=values.get("national_id", "").strip(),
        phone=optional("phone"),
        region=optional("region"),
        idempotency_key=idempotency_key,
    )


def borrower_page(client: LoansClient, role: str, borrower_id: str) -> BorrowerPage:
    """A borrower with their latest applications and loans."""
    borrower = client.borrower(borrower_id)
    applications = client.applications(borrower_id=borrower_id, limit=RELATED_LIMIT + 1)
    loans = client.loans(borrower_id=borrower_id, limit=RELATED_LIMIT + 1)
    names = product_names(client.products()) if applications or loans else {}
    return BorrowerPage(
        borrower=shown(borrower, role),
        applications=[
            ApplicationRow(
                id=a.id,
                submitted_at=a.submitted_at,
                product=names.get(a.product_id, a.product_id),
                principal_minor=a.principal_minor,
                currency=a.currency,
                status_label=label(APPLICATION_STATUS_LABELS, a.status),
                score=a.score.score if a.score else None,
                grade=a.score.grade if a.score else None,
                decision_hint=label(DECISION_HINT_LABELS, a.score.decision_hint) if a.score else None,
                loan_id=a.loan_id,
            )
            for a in applications[:RELATED_LIMIT]
        ],
        loans=loan_rows(loans[:RELATED_LIMIT], {borrower.id: borrower}, names, role),
        more_applications=len(applications) > RELATED_LIMIT,
        more_loans=len(loans) > RELATED_LIMIT,
    )
