"""Personal data as a page shows it: whole to the roles that work with borrowers, masked to
everyone else (auditors see that a national id exists, not what it is)."""

from __future__ import annotations

PII_ROLES = frozenset({"loan_officer", "credit_manager", "admin"})
"""The roles (``shared.auth.Role`` values) that see borrowers' names, national ids and phone
numbers unmasked."""

MASK = "•"


def may_see_personal_data(role: str) -> bool:
    """Whether ``role`` sees personal data unmasked."""
    return role in PII_ROLES


def mask_name(name: str) -> str:
    """Each word's first letter, the rest masked: ``Wanjiru Kamau`` -> ``W•••••• K••••``."""
    return " ".join(word[:1] + MASK * (len(word) - 1) for word in name.split())


def mask_tail(value: str, keep: int = 3) -> str:
    """All but the last ``keep`` characters masked (none kept of a value that short)."""
    if len(value) <= keep:
        return MASK * len(value)
    return MASK * (len(value) - keep) + value[-keep:]


def shown_name(name: str, role: str) -> str:
    """A borrower's name as ``role`` may see it."""
    return name if may_see_personal_data(role) else mask_name(name)


def shown_identifier(value: str | None, role: str) -> str | None:
    """A national id or phone number as ``role`` may see it."""
    if value is None:
        return None
    return value if may_see_personal_data(role) else mask_tail(value)
