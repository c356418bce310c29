"""Score receipts, as anyone verifies them offline: what is signed, and the one verification.

Scoring signs every decision (``services.scoring.domain.receipt`` builds the payload); the
console, the ``agrifin verify-receipt`` and ``agrifin replay`` commands and scoring's own replay
check it here, with nothing but the published keys (``GET /v1/keys`` of scoring).

A receipt is ``{"alg": "Ed25519", "key_id", "payload", "signature"}``; ``signature`` is base64url
without padding of the 64-byte Ed25519 signature of the payload's UTF-8 bytes — the string as
sent, never a re-serialisation of it. ``payload`` is a JSON object in one of two formats:

- **v2** (``"receipt_version": 2``, every receipt signed since): RFC 8785 (JCS) canonical JSON
  (``rfc8785.dumps``: keys sorted by UTF-16 code units, no whitespace, numbers as ECMAScript
  prints them — ``600.0`` is ``600``, ``-0.0`` is ``0``, ``1e-7`` is ``1e-7``) of exactly
  :data:`PAYLOAD_FIELDS_V2`: everything the decision states — score, PD, grade, decision hint
  and the thresholds it followed, base points, each feature's float and integer points (spec
  order), the integer score and base, the reasons (code, feature, text in every language),
  model version and artifact SHA-256, spec version, ``features_sha256`` (hex SHA-256 of the
  JCS of the features as submitted, a missing value as ``null``), score id, segment, subject
  and ``created_at`` (ISO-8601 UTC with microseconds and ``Z``).
- **v1** (receipts signed before): :func:`shared.crypto.canonical_json` (Python's ``json``,
  sorted keys, floats in ``repr``) of exactly :data:`PAYLOAD_FIELDS`, ``features_sha256`` over
  the same canonical JSON of the features.

The published keys are ``{"keys": [{"key_id", "alg": "Ed25519", "public_key", "valid_from",
"valid_until"}]}`` with ``public_key`` the base64url (no padding) of the raw 32-byte key and
the validity in ISO-8601 UTC (``valid_until`` null for the current key; either null or absent:
unbounded). A receipt verifies only with a key valid at its ``created_at``; a retired key keeps
verifying what it signed while it was current.

Numbers: a JCS payload read back with ``json.loads`` gives ``600`` for ``600.0``, so a signed
number equals a stated float when it is the same IEEE-754 value (:func:`same_number`; JCS
cannot tell ``-0.0`` from ``0.0``, so zero equals zero).

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

import rfc8785

from shared.crypto import canonical_json, load_public_key, parse_utc, sha256_hex, verify_signature

RECEIPT_ALG = "Ed25519"
RECEIPT_VERSION = 2
"""The format new receipts are signed in."""
PAYLOAD_FIELDS: tuple[str, ...] = (
    "score_id", "segment", "subject_id", "model_version", "model_sha256", "features_sha256",
    "score", "pd", "grade", "reason_codes", "created_at",
)  # fmt: skip
"""The fields of a v1 receipt's payload, no more and no fewer."""
PAYLOAD_FIELDS_V2: tuple[str, ...] = (
    "receipt_version", "score_id", "segment", "subject_id", "created_at", "model_version",
    "model_sha256", "spec_version", "features_sha256", "score", "pd", "grade", "decision_hint",
    "hint_thresholds", "base_points", "integer_score", "integer_base_points", "points", "reasons",
)  # fmt: skip
"""The fields of a v2 receipt's payload. ``hint_thresholds`` is ``{approve_min_score,
decline_below_score}``; ``points`` is ``[{feature, points, integer_points}]`` in spec order;
``reasons`` is ``[{code, feature, texts: {lang: text}}]``."""

# answer fields that must equal the signed payload's when a whole score answer is checked
_ANSWER_FIELDS = {
    "id": "score_id", "segment": "segment", "subject_id": "subject_id",
    "model_version": "model_version", "model_sha256": "model_sha256", "score": "score",
    "pd": "pd", "grade": "grade", "created_at": "created_at",
}  # fmt: skip
_ANSWER_FIELDS_V2 = {
    **_ANSWER_FIELDS, "decision_hint": "decision_hint", "base_points": "base_points",
    "integer_score": "integer_score", "integer_base_points": "integer_base_points",
}  # fmt: skip
_STATED_SINCE_V2 = {"decision_hint", "base_points", "integer_score", "integer_base_points"}
"""Answer fields a client may leave null (not stated) rather than absent."""
_SAFE_INTEGER = 2**53 - 1

PublishedKeys = Mapping[str, Any] | Sequence[Mapping[str, Any]]
"""The ``GET /v1/keys`` document (``{"keys": [...]}``) or its list of keys."""


def storable_features(features: Mapping[str, Any]) -> dict[str, Any]:
    """Input features as stored and hashed: NaN (a missing value) becomes ``None``."""
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in features.items()}


def jcs(value: Any) -> str:
    """RFC 8785 canonical JSON of ``value`` as text (raises ``rfc8785.CanonicalizationError``)."""
    return rfc8785.dumps(value).decode("utf-8")


def load_jcs(text: str) -> Any:
    """Parse JCS text; an integer beyond ±(2⁵³−1) (a large float JCS prints without exponent)
    reads as the float it was, so :func:`jcs` of the result gives the same text back."""

    def number(digits: str) -> int | float:
        value = int(digits)
        return value if abs(value) <= _SAFE_INTEGER else float(digits)

    return json.loads(text, parse_int=number)


def features_sha256(features: Mapping[str, Any], *, version: int = RECEIPT_VERSION) -> str:
    """Hex SHA-256 of the canonical JSON of the input features (what ``features_sha256`` signs):
    RFC 8785 for v2 receipts, :func:`shared.crypto.canonical_json` for v1."""
    stored = storable_features(features)
    return sha256_hex(jcs(stored) if version >= 2 else canonical_json(stored))


def same_number(signed: Any, stated: Any) -> bool:
    """A signed JSON number equals a stated one: the same IEEE-754 value for a float (zero
    equals zero: JCS writes ``-0.0`` as ``0``), the same integer otherwise; never a bool."""
    if isinstance(signed, bool) or isinstance(stated, bool):
        return False
    if not isinstance(signed, int | float) or not isinstance(stated, int | float):
        return False
    if isinstance(stated, float) or isinstance(signed, float):
        a, b = float(signed), float(stated)
        return a.hex() == b.hex() or (a == 0.0 and b == 0.0)
    return signed == stated


@dataclass(frozen=True)
class ReceiptCheck:
    """Outcome of verifying a receipt: ``valid``, a plain-words ``reason``, the signing key,
    once the signature verifies the signed payload, and its format (1 or 2)."""

    valid: bool
    reason: str
    key_id: str | None = None
    payload: dict[str, Any] | None = None
    receipt_version: int | None = None


def _key_list(keys: PublishedKeys) -> list[Mapping[str, Any]]:
    listed = keys.get("keys", []) if isinstance(keys, Mapping) else keys
    if not isinstance(listed, Sequence) or isinstance(listed, str):
        return []
    return [k for k in listed if isinstance(k, Mapping)]


def _payload_problem(payload: str, decoded: Any) -> tuple[int | None, str | None]:
    """The payload's format, or why it is not a receipt payload."""
    if not isinstance(decoded, dict):
        return None, "payload does not have the receipt fields"
    if "receipt_version" not in decoded:
        ok = set(decoded) == set(PAYLOAD_FIELDS)
        return 1, None if ok else "payload does not have the receipt fields"
    if decoded["receipt_version"] != 2 or isinstance(decoded["receipt_version"], bool):
        return None, f"unsupported receipt version {decoded['receipt_version']!r}"
    if set(decoded) != set(PAYLOAD_FIELDS_V2):
        return 2, "payload does not have the receipt fields"
    try:
        canonical = jcs(decoded) == payload
    except (rfc8785.CanonicalizationError, UnicodeEncodeError):
        canonical = False
    return 2, None if canonical else "payload is not RFC 8785 canonical JSON"


def _validity_problem(key: Mapping[str, Any], key_id: str, created_at: Any) -> str | None:
    """Why a key was not valid at the receipt's time (None: it was)."""
    if key.get("valid_from") is None and key.get("valid_until") is None:
        return None
    try:
        when = parse_utc(str(created_at))
        start = None if key.get("valid_from") is None else parse_utc(str(key["valid_from"]))
        end = None if key.get("valid_until") is None else parse_utc(str(key["valid_until"]))
    except ValueError:
        return f"receipt time {created_at!r} or the validity of key {key_id!r} is not an ISO-8601 time"
    if start is not None and when < start:
        return (
            f"key {key_id!r} became valid at {key['valid_from']}; "
            f"the receipt claims {created_at}, before that"
        )
    if end is not None and when >= end:
        return (
            f"key {key_id!r} was retired at {key['valid_until']}; "
            f"the receipt claims {created_at}, after its retirement"
        )
    return None


def check_receipt(receipt: Mapping[str, Any], keys: PublishedKeys) -> ReceiptCheck:
    """Verify a receipt's signature with the published ``keys``, the payload's shape (v1 or
    v2) and that the key was valid at the time the payload states."""
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
        decoded = load_jcs(payload)
    except ValueError:
        return ReceiptCheck(False, "payload is not JSON", key_id)
    version, problem = _payload_problem(payload, decoded)
    if problem is not None:
        return ReceiptCheck(False, problem, key_id, None, version)
    retired = _validity_problem(key, key_id, decoded["created_at"])
    if retired is not None:
        return ReceiptCheck(False, retired, key_id, decoded, version)
    return ReceiptCheck(True, "signature verifies", key_id, decoded, version)


def _differs(field: str) -> str:
    return f"response field {field!r} differs from the signed payload"


def _answer_problem_v1(document: Mapping[str, Any], payload: Mapping[str, Any]) -> str | None:
    for field, signed in _ANSWER_FIELDS.items():
        if field in document and document[field] != payload[signed]:
            return _differs(field)
    reasons = document.get("reasons")
    if isinstance(reasons, list):
        codes = [r.get("code") for r in reasons if isinstance(r, Mapping)]
        if codes != payload["reason_codes"]:
            return "response reasons differ from the signed reason codes"
    return None


def _contributions_problem(contributions: Any, signed: list[Any]) -> str | None:
    """The answer's contributions are the signed points (names in order, floats, integers)."""
    if not isinstance(contributions, list) or len(contributions) != len(signed):
        return "response contributions differ from the signed points"
    for stated, point in zip(contributions, signed, strict=True):
        if not isinstance(stated, Mapping) or stated.get("feature") != point["feature"]:
            return "response contributions differ from the signed points"
        if "points" in stated and not same_number(point["points"], stated["points"]):
            return f"response points of {point['feature']!r} differ from the signed points"
        whole = stated.get("integer_points")
        if whole is not None and not same_number(point["integer_points"], whole):
            return f"response integer points of {point['feature']!r} differ from the signed points"
    return None


def _reasons_problem(reasons: Any, signed: list[Any], points: list[Any]) -> str | None:
    """The answer's reasons are the signed ones: code, feature, a signed text, the feature's points."""
    by_feature = {p["feature"]: p for p in points}
    if not isinstance(reasons, list) or len(reasons) != len(signed):
        return "response reasons differ from the signed reasons"
    for stated, reason in zip(reasons, signed, strict=True):
        if not isinstance(stated, Mapping):
            return "response reasons differ from the signed reasons"
        if (
            stated.get("code") != reason["code"]
            or stated.get("feature", reason["feature"]) != reason["feature"]
        ):
            return "response reasons differ from the signed reason codes"
        if "text" in stated and stated["text"] not in reason["texts"].values():
            return f"response reason text of {reason['code']!r} is not a signed text"
        point = by_feature.get(reason["feature"], {})
        for field in ("points", "integer_points"):
            if stated.get(field) is not None and not same_number(point.get(field), stated[field]):
                return f"response reason {field} of {reason['code']!r} differ from the signed points"
    return None


def _answer_problem_v2(document: Mapping[str, Any], payload: Mapping[str, Any]) -> str | None:
    for field, signed in _ANSWER_FIELDS_V2.items():
        if field not in document or (document[field] is None and field in _STATED_SINCE_V2):
            continue
        stated, value = document[field], payload[signed]
        equal = same_number(value, stated) if isinstance(value, int | float) else stated == value
        if not equal:
            return _differs(field)
    if "contributions" in document:
        problem = _contributions_problem(document["contributions"], payload["points"])
        if problem is not None:
            return problem
    if "reasons" in document:
        return _reasons_problem(document["reasons"], payload["reasons"], payload["points"])
    return None


def check_score_document(document: Mapping[str, Any], keys: PublishedKeys) -> ReceiptCheck:
    """Verify a score answer (or a bare receipt): the signature, then that every answer field
    the payload signs equals the signed value (v1: id, segment, subject, model, score, PD,
    grade, time, reason codes; v2 also the hint, base points, every contribution's float and
    integer points, the integer score and base, and each reason's feature and text)."""
    receipt = document.get("receipt", document)
    if not isinstance(receipt, Mapping):
        return ReceiptCheck(False, "receipt is not an object")
    check = check_receipt(receipt, keys)
    if not check.valid or "receipt" not in document or check.payload is None:
        return check
    answer = _answer_problem_v1 if check.receipt_version == 1 else _answer_problem_v2
    try:
        problem = answer(document, check.payload)
    except (KeyError, TypeError, AttributeError):
        problem = "response does not have the shape of a score answer"
    if problem is not None:
        return ReceiptCheck(False, problem, check.key_id, check.payload, check.receipt_version)
    return ReceiptCheck(
        True,
        "signature verifies and the response matches the signed payload",
        check.key_id,
        check.payload,
        check.receipt_version,
    )


def verify_receipt(receipt: Mapping[str, Any], public_keys: PublishedKeys) -> tuple[bool, str]:
    """``(valid, reason)`` for a receipt or a whole score answer, against the published keys."""
    check = check_score_document(receipt, public_keys)
    return check.valid, check.reason
