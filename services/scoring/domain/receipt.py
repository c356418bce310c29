"""Score receipts: what is signed, and how anyone verifies it offline.

A receipt is ``{alg: "Ed25519", key_id, payload, signature}``. ``payload`` is the canonical
JSON (sorted keys, no whitespace, :func:`shared.crypto.canonical_json`) of::

    score_id, segment, subject_id, model_version, model_sha256, features_sha256,
    score, pd, grade, reason_codes, created_at

where ``features_sha256`` is the SHA-256 of the canonical JSON of the input features as
submitted (missing values as ``null``) and ``created_at`` is ISO-8601 UTC with
microseconds. ``signature`` is base64url without padding of the Ed25519 signature over the
payload's UTF-8 bytes. Published keys (``GET /v1/keys``) are
``{"keys": [{key_id, alg, public_key}]}`` with ``public_key`` the base64url raw 32 bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.crypto import canonical_json, load_public_key, sha256_hex, verify_signature

RECEIPT_ALG = "Ed25519"
PAYLOAD_FIELDS = (
    "score_id", "segment", "subject_id", "model_version", "model_sha256", "features_sha256",
    "score", "pd", "grade", "reason_codes", "created_at",
)  # fmt: skip
# response fields that must equal the signed payload's when a whole score response is checked
_RESPONSE_FIELDS = {
    "id": "score_id", "segment": "segment", "subject_id": "subject_id",
    "model_version": "model_version", "score": "score", "pd": "pd", "grade": "grade",
    "created_at": "created_at",
}  # fmt: skip


def dumps_exact(value: Any) -> str:
    """JSON whose floats round-trip bit for bit (``repr`` precision), keys in given order.

    What a decision stores of its outcome and reasons (and the registry of its metrics), so
    that a replay compares the very bits that were computed.
    """
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def storable_features(features: Mapping[str, Any]) -> dict[str, Any]:
    """Input features as stored and hashed: NaN (a missing value) becomes ``None``."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in features.items()}


def features_sha256(features: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the input features."""
    return sha256_hex(canonical_json(storable_features(features)))


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


@dataclass(frozen=True)
class ReceiptCheck:
    """Outcome of verifying a receipt."""

    valid: bool
    reason: str
    key_id: str | None = None
    payload: dict[str, Any] | None = None


def verify_receipt(receipt: Mapping[str, Any], keys: Sequence[Mapping[str, Any]]) -> ReceiptCheck:
    """Verify a receipt's signature with the published ``keys`` (``[{key_id, alg, public_key}]``)."""
    try:
        alg, key_id = str(receipt["alg"]), str(receipt["key_id"])
        payload, signature = str(receipt["payload"]), str(receipt["signature"])
    except (KeyError, TypeError):
        return ReceiptCheck(False, "not a receipt: needs alg, key_id, payload and signature")
    if alg != RECEIPT_ALG:
        return ReceiptCheck(False, f"unsupported algorithm {alg!r}", key_id)
    key = next((k for k in keys if k.get("key_id") == key_id), None)
    if key is None:
        return ReceiptCheck(False, f"no published key {key_id!r}", key_id)
    try:
        public_key = load_public_key(str(key["public_key"]))
    except (KeyError, ValueError):
        return ReceiptCheck(False, f"published key {key_id!r} is malformed", key_id)
    if not verify_signature(public_key, payload, signature):
        return ReceiptCheck(False, "signature does not verify", key_id)
    try:
        decoded = json.loads(payload)
    except ValueError:
        return ReceiptCheck(False, "payload is not JSON", key_id)
    if not isinstance(decoded, dict) or set(decoded) != set(PAYLOAD_FIELDS):
        return ReceiptCheck(False, "payload does not have the receipt fields", key_id)
    return ReceiptCheck(True, "signature verifies", key_id, decoded)


def verify_score_document(document: Mapping[str, Any], keys: Sequence[Mapping[str, Any]]) -> ReceiptCheck:
    """Verify a saved score response (or a bare receipt): signature, then field agreement."""
    receipt = document.get("receipt", document)
    if not isinstance(receipt, Mapping):
        return ReceiptCheck(False, "receipt is not an object")
    check = verify_receipt(receipt, keys)
    if not check.valid or "receipt" not in document or check.payload is None:
        return check
    for field, signed in _RESPONSE_FIELDS.items():
        if field in document and document[field] != check.payload[signed]:
            return ReceiptCheck(
                False,
                f"response field {field!r} differs from the signed payload",
                check.key_id,
                check.payload,
            )
    reasons = document.get("reasons")
    if isinstance(reasons, list):
        codes = [r.get("code") for r in reasons if isinstance(r, Mapping)]
        if codes != check.payload["reason_codes"]:
            return ReceiptCheck(
                False, "response reasons differ from the signed reason codes", check.key_id, check.payload
            )
    return ReceiptCheck(
        True, "signature verifies and the response matches the signed payload", check.key_id, check.payload
    )
