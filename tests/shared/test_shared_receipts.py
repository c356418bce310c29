"""shared.receipts, format v1 (Python canonical JSON, the receipts signed before v2): a receipt
verifies with the published key, and nothing altered or foreign does. Format v2 (RFC 8785) and
key validity: ``test_shared_receipts_v2.py``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from shared.crypto import Keyring, canonical_json, sha256_hex
from shared.receipts import (
    PAYLOAD_FIELDS,
    check_receipt,
    check_score_document,
    features_sha256,
    storable_features,
    verify_receipt,
)

FEATURES = {"land_area_ha": 2.5, "irrigation": True, "main_crop": "maize", "rainfall_anomaly_pct": None}


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    directory: Path = tmp_path_factory.mktemp("receipt-ring")
    Keyring.generate(directory)
    return Keyring.load(directory)


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    directory: Path = tmp_path_factory.mktemp("stranger-ring")
    Keyring.generate(directory)
    return Keyring.load(directory)


def _payload(**changes: Any) -> dict[str, Any]:
    return {
        "score_id": "0b7c1d2e-score",
        "segment": "farmer",
        "subject_id": "farmer-7",
        "model_version": "farmer-v2",
        "model_sha256": "ab" * 32,
        "features_sha256": features_sha256(FEATURES, version=1),
        "score": 587.1234567891234,
        "pd": 0.03456789012345678,
        "grade": "B",
        "reason_codes": ["F17", "F05"],
        "created_at": "2026-03-02T08:00:00.000000Z",
        **changes,
    }


def _receipt(ring: Keyring, payload: dict[str, Any]) -> dict[str, str]:
    text = canonical_json(payload)
    key_id, signature = ring.sign(text)
    return {"alg": "Ed25519", "key_id": key_id, "payload": text, "signature": signature}


def _answer(ring: Keyring) -> dict[str, Any]:
    """A score answer as scoring sends it (only the fields the check reads, and one it does not)."""
    payload = _payload()
    return {
        "id": payload["score_id"],
        "segment": payload["segment"],
        "subject_id": payload["subject_id"],
        "model_version": payload["model_version"],
        "model_sha256": payload["model_sha256"],
        "score": payload["score"],
        "pd": payload["pd"],
        "grade": payload["grade"],
        "decision_hint": "approve",
        "reasons": [{"code": "F17"}, {"code": "F05"}],
        "created_at": payload["created_at"],
        "receipt": _receipt(ring, payload),
    }


def test_a_signed_receipt_verifies_with_the_published_document_or_its_list(ring: Keyring) -> None:
    receipt = _receipt(ring, _payload())
    published = {"keys": ring.public_keys()}
    check = check_receipt(receipt, published)
    assert check.valid and check.reason == "signature verifies"
    assert check.key_id == ring.active_signing_key_id and check.payload == _payload()
    assert check_receipt(receipt, ring.public_keys()).valid
    assert verify_receipt(receipt, published) == (True, "signature verifies")
    assert set(json.loads(receipt["payload"])) == set(PAYLOAD_FIELDS)


def test_a_tampered_score_fails(ring: Keyring) -> None:
    receipt = _receipt(ring, _payload())
    raised = canonical_json({**json.loads(receipt["payload"]), "score": 640.0})
    assert verify_receipt({**receipt, "payload": raised}, {"keys": ring.public_keys()}) == (
        False,
        "signature does not verify",
    )
    reordered = json.dumps(json.loads(receipt["payload"]))  # same facts, other bytes: not what was signed
    assert not check_receipt({**receipt, "payload": reordered}, ring.public_keys()).valid


def test_a_wrong_or_unknown_key_fails(ring: Keyring, stranger: Keyring) -> None:
    receipt = _receipt(ring, _payload())
    (theirs,) = stranger.public_keys()
    impostor = [{**theirs, "key_id": receipt["key_id"]}]  # the right id, another key
    assert verify_receipt(receipt, {"keys": impostor}) == (False, "signature does not verify")
    assert check_receipt(receipt, stranger.public_keys()).reason == f"no published key {receipt['key_id']!r}"
    forged = _receipt(stranger, _payload())  # signed by someone else under their own id
    assert not check_receipt(forged, ring.public_keys()).valid
    assert check_receipt(receipt, []).reason.startswith("no published key")
    assert check_receipt(receipt, {"keys": "nonsense"}).reason.startswith("no published key")


def test_malformed_receipts_and_keys_are_refused_in_words(ring: Keyring) -> None:
    receipt = _receipt(ring, _payload())
    keys = ring.public_keys()
    assert not check_receipt({"payload": "x"}, keys).valid
    assert check_receipt({**receipt, "alg": "RS256"}, keys).reason == "unsupported algorithm 'RS256'"
    broken = [{**keys[0], "public_key": "!!"}]
    assert check_receipt(receipt, broken).reason == f"published key {receipt['key_id']!r} is malformed"
    other_alg = [{**keys[0], "alg": "RS256"}]
    assert "is not an Ed25519 key" in check_receipt(receipt, other_alg).reason
    short = _receipt(ring, {k: v for k, v in _payload().items() if k != "grade"})
    assert check_receipt(short, keys).reason == "payload does not have the receipt fields"
    extra = _receipt(ring, {**_payload(), "note": "x"})
    assert not check_receipt(extra, keys).valid


def test_a_whole_answer_must_say_what_was_signed(ring: Keyring) -> None:
    answer = _answer(ring)
    keys = {"keys": ring.public_keys()}
    assert verify_receipt(answer, keys) == (
        True,
        "signature verifies and the response matches the signed payload",
    )
    for field, value in [
        ("score", 640.0),
        ("pd", 0.01),
        ("grade", "A"),
        ("subject_id", "farmer-8"),
        ("model_version", "farmer-v3"),
        ("model_sha256", "cd" * 32),
        ("created_at", "2026-03-03T08:00:00.000000Z"),
        ("id", "another"),
    ]:
        valid, reason = verify_receipt({**answer, field: value}, keys)
        assert not valid and reason == f"response field {field!r} differs from the signed payload", field
    assert check_score_document({**answer, "reasons": [{"code": "F05"}]}, keys).reason == (
        "response reasons differ from the signed reason codes"
    )
    assert verify_receipt({**answer, "decision_hint": "decline"}, keys)[0]  # not signed: not checked
    assert not check_score_document({**answer, "receipt": "x"}, keys).valid


def test_features_hash_is_of_the_canonical_json_with_nan_as_null() -> None:
    assert features_sha256(FEATURES, version=1) == sha256_hex(canonical_json(FEATURES))
    assert features_sha256(FEATURES) == sha256_hex(rfc8785.dumps(FEATURES))  # v2: RFC 8785
    with_nan = {**FEATURES, "rainfall_anomaly_pct": float("nan")}
    assert storable_features(with_nan) == FEATURES and features_sha256(with_nan) == features_sha256(FEATURES)
    assert features_sha256({**FEATURES, "land_area_ha": 2.6}) != features_sha256(FEATURES)
    whole = {**FEATURES, "land_area_ha": 3.0}  # JCS writes 3, Python 3.0: the formats differ
    assert features_sha256(whole) != features_sha256(whole, version=1)
