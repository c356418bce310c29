"""Pure helpers of the service: receipts (the v2 payload of an explanation; v1 receipts still
verify offline) and derived example applicants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rfc8785

from services.scoring.domain.examples import example_features
from services.scoring.domain.explain import explain_applicant
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.receipt import (
    PAYLOAD_FIELDS_V2,
    check_receipt,
    check_score_document,
    features_sha256,
    receipt_payload,
    receipt_payload_v1,
)
from services.scoring.domain.spec import validate_features
from shared.crypto import Keyring
from shared.receipts import same_number


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    directory: Path = tmp_path_factory.mktemp("receipt-keys")
    Keyring.generate(directory)
    return Keyring.load(directory)


def _document(ring: Keyring) -> dict[str, object]:
    """A v1 receipt (the format of decisions signed before v2) and the answer fields it signs."""
    payload = receipt_payload_v1(
        score_id="s-1",
        segment="farmer",
        subject_id="f-1",
        model_version="farmer-v1",
        model_sha256="a" * 64,
        features_sha256=features_sha256({"x": 1.5, "y": float("nan")}, version=1),
        score=601.25,
        pd=0.019,
        grade="A",
        reason_codes=["F01"],
        created_at="2026-03-02T08:00:00.000000Z",
    )
    key_id, signature = ring.sign(payload)
    receipt = {"alg": "Ed25519", "key_id": key_id, "payload": payload, "signature": signature}
    return {"id": "s-1", "score": 601.25, "grade": "A", "reasons": [{"code": "F01"}], "receipt": receipt}


def test_a_v2_payload_signs_the_whole_explanation(ring: Keyring, farmer_model: TrainedModel) -> None:
    features = dict(farmer_model.spec.example)
    explanation = explain_applicant(farmer_model, features)
    payload = receipt_payload(
        score_id="s-2",
        segment="farmer",
        subject_id="f-2",
        created_at="2026-03-02T08:00:00.000000Z",
        model_version="farmer-v1",
        model_sha256=farmer_model.artifact_sha256,
        spec_version=farmer_model.spec.version,
        features_sha256=features_sha256(features),
        explanation=explanation,
        decision_hint="review",
        approve_min_score=580.0,
        decline_below_score=520.0,
    )
    signed = json.loads(payload)
    assert payload.encode() == rfc8785.dumps(signed) and set(signed) == set(PAYLOAD_FIELDS_V2)
    assert [p["feature"] for p in signed["points"]] == farmer_model.spec.feature_names
    assert all(same_number(p["points"], explanation.points[p["feature"]]) for p in signed["points"])
    integers = explanation.integers
    assert [p["integer_points"] for p in signed["points"]] == list(integers.points)
    assert signed["integer_base_points"] + sum(integers.points) == signed["integer_score"] == integers.score
    assert [r["code"] for r in signed["reasons"]] == [r.code for r in explanation.reasons]
    assert [r["texts"] for r in signed["reasons"]] == [dict(r.texts) for r in explanation.reasons]
    key_id, signature = ring.sign(payload)
    check = check_receipt(
        {"alg": "Ed25519", "key_id": key_id, "payload": payload, "signature": signature}, ring.public_keys()
    )
    assert check.valid and check.receipt_version == 2, check.reason


def test_features_hash_treats_nan_as_null() -> None:
    assert features_sha256({"y": float("nan"), "x": 1.5}) == features_sha256({"x": 1.5, "y": None})
    assert features_sha256({"y": float("nan")}, version=1) == features_sha256({"y": None}, version=1)


def test_receipts_verify_and_fail_on_any_change(ring: Keyring) -> None:
    keys = ring.public_keys()
    document = _document(ring)
    assert check_score_document(document, keys).valid
    receipt = document["receipt"]
    assert isinstance(receipt, dict)
    assert check_receipt(receipt, keys).valid
    assert not check_receipt({"payload": "x"}, keys).valid
    assert not check_receipt(receipt, [{"key_id": receipt["key_id"], "public_key": "!!"}]).valid
    assert not check_receipt(receipt, []).valid
    assert not check_score_document({**document, "grade": "B"}, keys).valid
    assert not check_score_document({**document, "reasons": []}, keys).valid
    signed_other = ring.sign(json.dumps({"not": "a receipt"}))
    odd = {**receipt, "payload": json.dumps({"not": "a receipt"}), "signature": signed_other[1]}
    assert check_receipt(odd, keys).reason == "payload does not have the receipt fields"


def test_example_from_the_baseline_validates(model: TrainedModel) -> None:
    spec = model.spec.model_copy(update={"example": {}})
    example = example_features(spec, model.metadata["baseline"])
    assert validate_features(spec, example)
    assert set(example) == set(spec.feature_names)
    assert example_features(spec, None)  # no baseline either: still valid
    assert example_features(model.spec) == dict(model.spec.example)
