"""The console's areas and who sees them in the navigation (each page still checks its own roles)."""

from __future__ import annotations

from dataclasses import dataclass

from services.console.domain.catalogue import N_
from shared.auth import Role

_L, _C, _A, _ADM, _M = Role.LOAN_OFFICER, Role.CREDIT_MANAGER, Role.AUDITOR, Role.ADMIN, Role.MARKETPLACE


@dataclass(frozen=True)
class Area:
    """A navigation entry: where it goes, its label, what it is for, who sees it."""

    path: str
    label: str
    description: str
    roles: frozenset[Role]


AREAS: tuple[Area, ...] = (
    Area(
        "/applications",
        N_("Review queue"),
        N_("Applications with their scores, oldest first."),
        frozenset({_L, _C, _A, _ADM}),
    ),
    Area(
        "/applications/new",
        N_("New application"),
        N_("Submit an application for a borrower."),
        frozenset({_L, _ADM}),
    ),
    Area(
        "/borrowers",
        N_("Borrowers"),
        N_("Register and find farmers and enterprises."),
        frozenset({_L, _C, _A, _ADM}),
    ),
    Area(
        "/loans", N_("Loans"), N_("Loans, schedules, repayments and arrears."), frozenset({_L, _C, _A, _ADM})
    ),
    Area(
        "/portfolio",
        N_("Portfolio at risk"),
        N_("PAR by days past due, with a chart and CSV."),
        frozenset({_L, _C, _A, _ADM}),
    ),
    Area(
        "/decisions",
        N_("Decision explorer"),
        N_("Search scores; verify and replay decisions."),
        frozenset({_A, _ADM}),
    ),
    Area(
        "/models", N_("Models"), N_("Model registry, cards, champions and promotions."), frozenset({_A, _ADM})
    ),
    Area(
        "/monitoring",
        N_("Drift and fairness"),
        N_("Population stability and adverse impact."),
        frozenset({_A, _ADM}),
    ),
    Area(
        "/performance",
        N_("Model performance"),
        N_("Default rates vs predictions, AUC, KS, vintages and adverse impact."),
        frozenset({_A, _ADM}),
    ),
    Area(
        "/audit",
        N_("Audit chains"),
        N_("Each service's audit-chain verification and ledger checks."),
        frozenset({_A, _ADM}),
    ),
    Area(
        "/escrows", N_("Escrows"), N_("Escrows, their lots, money and timeline."), frozenset({_M, _A, _ADM})
    ),
)


def areas_for(role: Role) -> list[Area]:
    """The areas ``role`` sees."""
    return [area for area in AREAS if role in area.roles]


def current_area(path: str, areas: list[Area]) -> Area | None:
    """The area a page belongs to: the longest area path that is the page's path or a prefix of it."""
    matching = [a for a in areas if path == a.path or path.startswith(a.path.rstrip("/") + "/")]
    return max(matching, key=lambda a: len(a.path), default=None)
