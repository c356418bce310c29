"""Score receipts, as anyone verifies them offline: what is signed, and the one verification.

Scoring signs every decision (``services.scoring.domain.receipt`` builds the payload); the
console, the ``agrifin verify-receipt`` command and scoring's own replay check it here, with
nothing but the published keys (``GET /v1/keys`` of scoring).

A receipt is ``{"alg": "Ed25519", "key_id", "payload", "signature"}``:

- ``payload`` is a string: the canonical JSON (:func:`shared.crypto.canonical_json`: keys
  sorted, separators ``,`` and ``:`` with no whitespace, non-ASCII kept as UTF-8, floats in
  Python's shortest round-trip ``repr``) of exactly the :data:`PAYLOAD_FIELDS`::

      {"created_at", "features_sha256", "grade", "model_sha256", "model_version", "pd",
       "reason_codes", "score", "score_id", "segment", "subject_id"}

  ``features_sha256`` is :func:`features_sha256` of the input features as submitted
  (a missing value as ``null``); ``created_at`` is ISO-8601 UTC with microseconds and ``Z``.
- ``signature`` is base64url without padding of the 64-byte Ed25519 signature of the
  payload's UTF-8 bytes — the string as sent, never a re-serialisation of it.
- The published keys are ``{"keys": [{"key_id", "alg": "Ed25519", "public_key"}]}`` with
  ``public_key`` the base64url (no padding) of the raw 32-byte public key. The newest key
  signs; older ones stay published so old receipts keep verifying.

:func:`check_receipt` verifies a receipt; :func:`check_score_document` verifies a whole score
answer (the receipt, then that the answer's fields are the signed ones); :func:`verify_receipt`
is the two-value form ``(valid, reason)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.crypto import canonical_json, load_public_key, sha256_hex, verify_signature

RECEIPT_ALG = "Ed25519"
PAYLOAD_FIELDS: tuple[str, ...] = (
    "score_id", "segment", "subject_id", "model_version", "model_sha256", "features_sha256",
    "score", "pd", "grade", "reason_codes", "created_at",
)  # fmt: skip
"""The fields of a receipt's payload, no more and no fewer."""

# answer fields that must equal the signed payload's when a whole score answer is checked
_ANSWER_FIELDS = {
    "id": "score_id", "segment": "segment", "subject_id": "subject_id",
    "model_version": "model_version", "model_sha256": "model_sha256", "score": "score",
    "pd": "pd", "grade": "grade", "created_at": "created_at",
}  # fmt: skip

PublishedKeys = Mapping[str, Any] | Sequence[Mapping[str, Any]]
"""The ``GET /v1/keys`` document (``{"keys": [...]}``) or its list of keys."""


def storable_features(features: Mapping[str, Any]) -> dict[str, Any]:
    """Input features as stored and hashed: NaN (a missing value) becomes ``None``."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in features.items()}


def features_sha256(features: Mapping[str, Any]) -> str:
    """Hex SHA-256 of the canonical JSON of the input features (what ``features_sha256`` signs)."""
    return sha256_hex(canonical_json(storable_features(features)))


@dataclass(frozen=True)
class ReceiptCheck:
    """Outcome of verifying a receipt: ``valid``, a plain-words ``reason``, the signing key
    and, once the signature verifies, the signed payload."""

    valid: bool
    reason: str
    key_id: str | None = None
    payload: dict[str, Any] | None = None


def _key_list(keys: PublishedKeys) -> list[Mapping[str, Any]]:
    listed = keys.get("keys", []) if isinstance(keys, Mapping) else keys
    if not isinstance(listed, Sequence) or isinstance(listed, str):
        return []
    return [k for k in listed if isinstance(k, Mapping)]


def check_receipt(receipt: Mapping[str, Any], keys: PublishedKeys) -> ReceiptCheck:
    """Verify a receipt's signature with the published ``keys`` and the payload's shape."""
    try:
        alg, key_id = str(receipt["alg"]), str(receipt["key_id"])
        payload, signature = str(receipt["payload"]), str(receipt["signature"])
    except (KeyError, TypeError):
        return ReceiptCheck(False, "not a receipt: needs alg, key_id, payload and signature")
    if alg != RECEIPT_ALG:
        return ReceiptCheck(False, f"unsupported algorithm {alg!r}", key_id)
    key = next((k for k in _key_list(keys) if k.get("key_id") == key_id), None)
    if key is None:
        return ReceiptCheck(False, f"no published key {key_id!r}", key_id)
    if key.get("alg", RECEIPT_ALG) != RECEIPT_ALG:
        return ReceiptCheck(False, f"published key {key_id!r} is not an {RECEIPT_ALG} key", key_id)
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


def check_score_document(document: Mapping[str, Any], keys: PublishedKeys) -> ReceiptCheck:
    """Verify a score answer (or a bare receipt): the signature, then that every answer field
    the payload signs (id, segment, subject, model, score, PD, grade, time, reason codes)
    equals the signed value."""
    receipt = document.get("receipt", document)
    if not isinstance(receipt, Mapping):
        return ReceiptCheck(False, "receipt is not an object")
    check = check_receipt(receipt, keys)
    if not check.valid or "receipt" not in document or check.payload is None:
        return check
    for field, signed in _ANSWER_FIELDS.items():
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


def verify_receipt(receipt: Mapping[str, Any], public_keys: PublishedKeys) -> tuple[bool, str]:
    """``(valid, reason)`` for a receipt or a whole score answer, against the published keys."""
    check = check_score_document(receipt, public_keys)
    return check.valid, check.reason
