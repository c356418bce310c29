"""Score receipts, the signing side: the payload a decision's receipt signs.

The receipt format and its verification live in :mod:`shared.receipts` (one
implementation, which the console, ``agrifin verify-receipt``, ``agrifin replay`` and the
service's replay all use); this module builds the payload from a decision
(:func:`receipt_payload`: format v2, RFC 8785 canonical JSON of :data:`PAYLOAD_FIELDS_V2`) and
re-exports what the service needs of the format. :func:`receipt_payload_v1` is the format of
the receipts signed before v2 (they still verify), kept to make such receipts in tests.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from services.scoring.domain.explain import Explanation
from shared.crypto import canonical_json
from shared.receipts import (
    PAYLOAD_FIELDS,
    PAYLOAD_FIELDS_V2,
    RECEIPT_ALG,
    RECEIPT_VERSION,
    ReceiptCheck,
    check_receipt,
    check_score_document,
    features_sha256,
    jcs,
    storable_features,
)

__all__ = [
    "PAYLOAD_FIELDS",
    "PAYLOAD_FIELDS_V2",
    "RECEIPT_ALG",
    "RECEIPT_VERSION",
    "ReceiptCheck",
    "check_receipt",
    "check_score_document",
    "dumps_exact",
    "features_sha256",
    "receipt_payload",
    "receipt_payload_v1",
    "storable_features",
]


def dumps_exact(value: Any) -> str:
    """JSON whose floats round-trip bit for bit (``repr`` precision), keys in given order.

    What a decision stores of its outcome and reasons (and the registry of its metrics), so
    that a replay compares the very bits that were computed.
    """
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def receipt_payload(
    *,
    score_id: str,
    segment: str,
    subject_id: str,
    created_at: str,
    model_version: str,
    model_sha256: str,
    spec_version: str,
    features_sha256: str,
    explanation: Explanation,
    decision_hint: str,
    approve_min_score: float,
    decline_below_score: float,
) -> str:
    """The v2 payload a receipt signs: RFC 8785 canonical JSON of everything the decision states."""
    integers = explanation.integers
    points = [
        {"feature": name, "points": value, "integer_points": whole}
        for (name, value), whole in zip(explanation.points.items(), integers.points, strict=True)
    ]
    reasons = [
        {"code": r.code, "feature": r.feature, "texts": dict(r.texts) or {"en": r.text}}
        for r in explanation.reasons
    ]
    return jcs(
        {
            "receipt_version": RECEIPT_VERSION,
            "score_id": score_id,
            "segment": segment,
            "subject_id": subject_id,
            "created_at": created_at,
            "model_version": model_version,
            "model_sha256": model_sha256,
            "spec_version": spec_version,
            "features_sha256": features_sha256,
            "score": explanation.score,
            "pd": explanation.pd,
            "grade": explanation.grade,
            "decision_hint": decision_hint,
            "hint_thresholds": {
                "approve_min_score": approve_min_score,
                "decline_below_score": decline_below_score,
            },
            "base_points": explanation.base_points,
            "integer_score": integers.score,
            "integer_base_points": integers.base,
            "points": points,
            "reasons": reasons,
        }
    )


def receipt_payload_v1(
    *,
    score_id: str,
    segment: str,
    subject_id: str,
    model_version: str,
    model_sha256: str,
    features_sha256: str,
    score: float,
    pd: float,
    grade: str,
    reason_codes: Sequence[str],
    created_at: str,
) -> str:
    """The v1 payload (Python canonical JSON of :data:`PAYLOAD_FIELDS`) receipts had before v2."""
    return canonical_json(
        {
            "score_id": score_id,
            "segment": segment,
            "subject_id": subject_id,
            "model_version": model_version,
            "model_sha256": model_sha256,
            "features_sha256": features_sha256,
            "score": score,
            "pd": pd,
            "grade": grade,
            "reason_codes": list(reason_codes),
            "created_at": created_at,
        }
    )
