"""Marking text for the catalogue, and the labels of things every page names (roles)."""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue; it is translated where a page renders it."""
    return message


ROLE_LABELS = {
    "loan_officer": N_("Loan officer"),
    "credit_manager": N_("Credit manager"),
    "auditor": N_("Auditor"),
    "admin": N_("Administrator"),
    "marketplace": N_("Marketplace operations"),
}
"""Labels of the roles (``shared.auth.Role`` values; the domain does not import auth)."""


def role_label(role: str) -> str:
    """The (untranslated) label of a role."""
    return ROLE_LABELS.get(str(role), str(role))
