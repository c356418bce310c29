"""Score receipts, the signing side: the payload a decision's receipt signs.

The receipt format and its verification live in :mod:`shared.receipts` (one
implementation, which the console, ``agrifin verify-receipt`` and replay all use); this
module builds the payload from a decision (:func:`receipt_payload`) and re-exports what the
service needs of the format. In short: ``payload`` is the canonical JSON of
:data:`PAYLOAD_FIELDS`, ``signature`` the base64url Ed25519 signature of its UTF-8 bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from shared.crypto import canonical_json
from shared.receipts import (
    PAYLOAD_FIELDS,
    RECEIPT_ALG,
    ReceiptCheck,
    check_receipt,
    check_score_document,
    features_sha256,
    storable_features,
)

__all__ = [
    "PAYLOAD_FIELDS",
    "RECEIPT_ALG",
    "ReceiptCheck",
    "check_receipt",
    "check_score_document",
    "dumps_exact",
    "features_sha256",
    "receipt_payload",
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
    model_version: str,
    model_sha256: str,
    features_sha256: str,
    score: float,
    pd: float,
    grade: str,
    reason_codes: Sequence[str],
    created_at: str,
) -> str:
    """The canonical JSON payload a receipt signs."""
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
