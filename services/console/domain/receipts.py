"""What the decision page says about a receipt (pure): the receipt and its payload as text an
auditor reads, and ``shared.receipts``' verdicts in plain words.

The verification itself is ``shared.receipts.check_score_document`` (one implementation for
the console, ``agrifin verify-receipt`` and scoring's replay); this module only words it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from services.console.domain.catalogue import N_

EXPLANATIONS: tuple[tuple[str, str], ...] = (
    (
        "signature verifies and the response matches",
        N_("The signature is scoring's, and the decision shown is exactly what scoring signed."),
    ),
    ("signature verifies", N_("The signature is scoring's.")),
    (
        "signature does not verify",
        N_(
            "The signature does not match the signed text: the receipt was altered after signing, "
            "or it was not signed with a key scoring publishes."
        ),
    ),
    ("no published key", N_("The receipt names a key that scoring does not publish.")),
    ("unsupported algorithm", N_("The receipt is not signed with Ed25519.")),
    (
        "differs from the signed payload",
        N_("The signature is scoring's, but the decision differs from what it signed."),
    ),
    (
        "differ from the signed reason codes",
        N_("The signature is scoring's, but the reasons differ from those it signed."),
    ),
    (
        "was retired at",
        N_("The receipt claims a time after its signing key was retired: that key no longer signs receipts."),
    ),
    ("became valid at", N_("The receipt claims a time before its signing key came into use.")),
    (
        "differ from the signed points",
        N_("The signature is scoring's, but the points shown differ from those it signed."),
    ),
    (
        "differ from the signed reasons",
        N_("The signature is scoring's, but the reasons differ from those it signed."),
    ),
    (
        "is not a signed text",
        N_("The signature is scoring's, but a reason's text is not one it signed."),
    ),
    ("unsupported receipt version", N_("The receipt is in a format this console does not know.")),
    ("not RFC 8785", N_("The signed payload is not in its canonical form (RFC 8785): it was altered.")),
    ("not a receipt", N_("This is not a receipt: it lacks the algorithm, key, payload or signature.")),
    ("payload", N_("The signed payload is not a receipt's payload.")),
)
"""Fragments of ``shared.receipts``' reasons (the first that occurs wins) and what they mean."""


def explain(reason: str) -> str | None:
    """The plain-words meaning of a verification reason (marked for the catalogue), if known."""
    return next((text for fragment, text in EXPLANATIONS if fragment in reason), None)


def pretty_receipt(receipt: Mapping[str, Any]) -> str:
    """The receipt as scoring signed it, indented (the payload stays the exact signed string)."""
    return json.dumps(dict(receipt), indent=2, ensure_ascii=False)


def pretty_payload(payload: str) -> str:
    """The signed payload decoded and indented; the text as sent when it is not JSON."""
    try:
        return json.dumps(json.loads(payload), indent=2, ensure_ascii=False)
    except ValueError:
        return payload


def shown_value(value: Any) -> str:
    """A feature value or a replay difference as text: JSON for structures, ``—`` for none."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
