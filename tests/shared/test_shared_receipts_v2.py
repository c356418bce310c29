"""shared.receipts, format v2: RFC 8785 payloads that sign everything an answer states, numbers
compared as numbers after the JCS round trip, and keys valid only in their period."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from shared.crypto import Keyring, canonical_json
from shared.receipts import (
    PAYLOAD_FIELDS_V2,
    check_receipt,
    check_score_document,
    features_sha256,
    jcs,
    load_jcs,
    same_number,
)

FEATURES = {"land_area_ha": 3.0, "irrigation": True, "main_crop": "maize", "rainfall_anomaly_pct": None}
POINTS = [("land_area_ha", 12.5, 13), ("irrigation", -0.0, 0), ("main_crop", -20.25, -20)]


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    directory: Path = tmp_path_factory.mktemp("receipt-v2-ring")
    Keyring.generate(directory)
    return Keyring.load(directory)


def _payload(**changes: Any) -> dict[str, Any]:
    return {
        "receipt_version": 2,
        "score_id": "0b7c1d2e-score",
        "segment": "farmer",
        "subject_id": "farmer-7",
        "created_at": "2026-03-02T08:00:00.000000Z",
        "model_version": "farmer-v2",
        "model_sha256": "ab" * 32,
        "spec_version": "1.2.0",
        "features_sha256": features_sha256(FEATURES),
        "score": 592.25,
        "pd": 0.03456789012345678,
        "grade": "B",
        "decision_hint": "approve",
        "hint_thresholds": {"approve_min_score": 580.0, "decline_below_score": 520.0},
        "base_points": 600.0,
        "integer_score": 593,
        "integer_base_points": 600,
        "points": [{"feature": f, "points": p, "integer_points": i} for f, p, i in POINTS],
        "reasons": [{"code": "F05", "feature": "main_crop", "texts": {"en": "Crop risk", "zh": "作物风险"}}],
        **changes,
    }


def _receipt(ring: Keyring, payload: dict[str, Any], *, text: str | None = None) -> dict[str, str]:
    body = jcs(payload) if text is None else text
    key_id, signature = ring.sign(body)
    return {"alg": "Ed25519", "key_id": key_id, "payload": body, "signature": signature}


def _answer(ring: Keyring, **changes: Any) -> dict[str, Any]:
    """A score answer as scoring sends it for the payload above."""
    p = _payload()
    return {
        "id": p["score_id"], "segment": p["segment"], "subject_id": p["subject_id"],
        "model_version": p["model_version"], "model_sha256": p["model_sha256"],
        "score": p["score"], "base_points": p["base_points"], "integer_score": 593,
        "integer_base_points": 600, "pd": p["pd"], "grade": "B", "decision_hint": "approve",
        "contributions": [
            {"feature": f, "value": FEATURES[f], "points": pts, "integer_points": i} for f, pts, i in POINTS
        ],
        "reasons": [
            {"code": "F05", "feature": "main_crop", "points": -20.25, "integer_points": -20,
             "text": "Crop risk"}
        ],
        "created_at": p["created_at"],
        "receipt": _receipt(ring, p),
        **changes,
    }  # fmt: skip


def test_a_v2_receipt_is_rfc8785_and_verifies(ring: Keyring) -> None:
    receipt = _receipt(ring, _payload())
    assert receipt["payload"].encode() == rfc8785.dumps(_payload())
    assert '"base_points":600,' in receipt["payload"] and '"points":-0,' not in receipt["payload"]
    check = check_receipt(receipt, ring.public_keys())
    assert check.valid and check.receipt_version == 2, check.reason
    assert set(check.payload or {}) == set(PAYLOAD_FIELDS_V2)
    python_form = _receipt(ring, _payload(), text=canonical_json(_payload()))  # signed, but not JCS
    assert check_receipt(python_form, ring.public_keys()).reason == "payload is not RFC 8785 canonical JSON"
    assert check_receipt(_receipt(ring, _payload(receipt_version=3)), ring.public_keys()).reason == (
        "unsupported receipt version 3"
    )
    short = {k: v for k, v in _payload().items() if k != "integer_score"}
    assert check_receipt(_receipt(ring, short), ring.public_keys()).reason == (
        "payload does not have the receipt fields"
    )


def test_a_whole_v2_answer_must_state_what_was_signed(ring: Keyring) -> None:
    keys = ring.public_keys()
    answer = _answer(ring)
    check = check_score_document(answer, keys)
    assert check.valid, check.reason
    assert check_score_document(
        {**answer, "reasons": [{**answer["reasons"][0], "text": "作物风险"}]}, keys
    ).valid
    for field, value in [
        ("score", 592.2500000000001), ("base_points", 600.5), ("integer_score", 592),
        ("integer_base_points", 601), ("decision_hint", "review"), ("pd", 0.03), ("grade", "A"),
    ]:  # fmt: skip
        assert check_score_document({**answer, field: value}, keys).reason == (
            f"response field {field!r} differs from the signed payload"
        ), field
    unstated = [{**c, "integer_points": None} for c in answer["contributions"]]  # a client without integers
    assert check_score_document({**answer, "integer_score": None, "contributions": unstated}, keys).valid
    first, *rest = answer["contributions"]
    edited = [{**first, "points": 12.75}, *rest]
    assert check_score_document({**answer, "contributions": edited}, keys).reason == (
        "response points of 'land_area_ha' differ from the signed points"
    )
    edited = [{**first, "integer_points": 12}, *rest]
    assert check_score_document({**answer, "contributions": edited}, keys).reason == (
        "response integer points of 'land_area_ha' differ from the signed points"
    )
    assert not check_score_document({**answer, "contributions": rest}, keys).valid
    reason = answer["reasons"][0]
    for edit, why in [
        ({"text": "Anything else"}, "response reason text of 'F05' is not a signed text"),
        ({"code": "F06"}, "response reasons differ from the signed reason codes"),
        ({"points": -21.0}, "response reason points of 'F05' differ from the signed points"),
    ]:
        assert check_score_document({**answer, "reasons": [{**reason, **edit}]}, keys).reason == why
    assert not check_score_document({**answer, "reasons": []}, keys).valid
    assert check_score_document({**answer, "contributions": "nonsense"}, keys).reason == (
        "response contributions differ from the signed points"
    )


def test_signed_zero_and_whole_floats_compare_as_numbers(ring: Keyring) -> None:
    answer = _answer(ring)
    signed = json.loads(answer["receipt"]["payload"])
    assert signed["base_points"] == 600 and isinstance(signed["base_points"], int)  # JCS: 600.0 → 600
    assert signed["points"][1]["points"] == 0  # JCS: -0.0 → 0; the answer's -0.0 still matches
    assert check_score_document(answer, ring.public_keys()).valid
    assert same_number(600, 600.0) and same_number(0, -0.0) and not same_number(600, 600.0000000000001)
    assert not same_number(True, 1) and not same_number("1", 1) and not same_number(None, 0.0)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_float_survives_the_jcs_round_trip_bit_for_bit(value: float) -> None:
    back = load_jcs(jcs({"v": value}))["v"]
    assert same_number(back, value)
    assert float(back).hex() == value.hex() or value == 0.0
    assert jcs(load_jcs(jcs({"v": value}))) == jcs({"v": value})  # re-canonicalising is stable


@given(st.floats(allow_nan=False, allow_infinity=False), st.floats(allow_nan=False, allow_infinity=False))
def test_different_floats_never_compare_equal_after_jcs(a: float, b: float) -> None:
    if a == b:  # the same value (or both zeros): equal
        assert same_number(load_jcs(jcs(a)), b)
    else:
        assert not same_number(load_jcs(jcs(a)), b)


@given(st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1))
def test_safe_integers_round_trip(value: int) -> None:
    assert load_jcs(jcs(value)) == value and same_number(load_jcs(jcs(value)), value)


def test_large_float_reads_back_as_the_float_it_was() -> None:
    text = jcs({"v": 2.0**60})
    assert text == '{"v":1152921504606847000}'
    assert load_jcs(text)["v"] == 2.0**60 and jcs(load_jcs(text)) == text
    assert math.isclose(load_jcs(jcs(1e21)), 1e21)


def _keys_with(ring: Keyring, **validity: str | None) -> list[dict[str, Any]]:
    return [{**k, **validity} for k in ring.public_keys()]


def test_a_key_verifies_only_receipts_dated_in_its_validity(ring: Keyring) -> None:
    receipt = _receipt(ring, _payload(created_at="2026-03-02T08:00:00.000000Z"))
    assert check_receipt(receipt, _keys_with(ring, valid_from=None, valid_until=None)).valid
    inside = _keys_with(
        ring, valid_from="2026-03-01T00:00:00.000000Z", valid_until="2026-03-03T00:00:00.000000Z"
    )
    assert check_receipt(receipt, inside).valid
    key_id = receipt["key_id"]
    retired = _keys_with(ring, valid_from=None, valid_until="2026-03-02T08:00:00.000000Z")  # exclusive
    assert check_receipt(receipt, retired).reason == (
        f"key {key_id!r} was retired at 2026-03-02T08:00:00.000000Z; "
        "the receipt claims 2026-03-02T08:00:00.000000Z, after its retirement"
    )
    early = _keys_with(ring, valid_from="2026-03-02T08:00:00.000001Z", valid_until=None)
    assert check_receipt(receipt, early).reason == (
        f"key {key_id!r} became valid at 2026-03-02T08:00:00.000001Z; "
        "the receipt claims 2026-03-02T08:00:00.000000Z, before that"
    )
    assert "not an ISO-8601 time" in check_receipt(receipt, _keys_with(ring, valid_until="soon")).reason
