"""Pure helpers of the service: receipts (sign/verify offline) and derived example applicants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.scoring.domain.examples import example_features
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.receipt import (
    check_receipt,
    check_score_document,
    features_sha256,
    receipt_payload,
)
from services.scoring.domain.spec import validate_features
from shared.crypto import Keyring


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    directory: Path = tmp_path_factory.mktemp("receipt-keys")
    Keyring.generate(directory)
    return Keyring.load(directory)


def _document(ring: Keyring) -> dict[str, object]:
    payload = receipt_payload(
        score_id="s-1",
        segment="farmer",
        subject_id="f-1",
        model_version="farmer-v1",
        model_sha256="a" * 64,
        features_sha256=features_sha256({"x": 1.5, "y": float("nan")}),
        score=601.25,
        pd=0.019,
        grade="A",
        reason_codes=["F01"],
        created_at="2026-03-02T08:00:00.000000Z",
    )
    key_id, signature = ring.sign(payload)
    receipt = {"alg": "Ed25519", "key_id": key_id, "payload": payload, "signature": signature}
    return {"id": "s-1", "score": 601.25, "grade": "A", "reasons": [{"code": "F01"}], "receipt": receipt}


def test_features_hash_treats_nan_as_null() -> None:
    assert features_sha256({"y": float("nan"), "x": 1.5}) == features_sha256({"x": 1.5, "y": None})


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
