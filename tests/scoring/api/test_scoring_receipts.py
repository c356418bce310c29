"""Receipts verify offline with the published key; any change to them does not."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import factory.random
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.cli import app as cli_app
from services.scoring.domain.receipt import PAYLOAD_FIELDS, check_receipt, features_sha256
from shared.auth import Role
from shared.crypto import canonical_json, sha256_hex
from shared.platform import ServiceContext
from tests.factories.scoring import ScoreRequestFactory
from tests.scoring.kit import post_score

Headers = Callable[[Role], dict[str, str]]


@pytest.fixture
def scored(client: TestClient, headers: Headers) -> dict[str, Any]:
    factory.random.reseed_random("receipts")
    return post_score(client, headers(Role.LOAN_OFFICER), ScoreRequestFactory())


@pytest.fixture
def published(client: TestClient) -> dict[str, Any]:
    response = client.get("/v1/keys")  # public: no Authorization header
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_keys_are_public_and_match_the_keyring(published: dict[str, Any], ctx: ServiceContext) -> None:
    assert published == {"keys": ctx.keyring.public_keys()}
    assert all(k["alg"] == "Ed25519" for k in published["keys"])


def test_the_receipt_signs_the_decision(scored: dict[str, Any], published: dict[str, Any]) -> None:
    check = check_receipt(scored["receipt"], published["keys"])
    assert check.valid, check.reason
    payload = json.loads(scored["receipt"]["payload"])
    assert scored["receipt"]["payload"] == canonical_json(payload)
    assert set(payload) == set(PAYLOAD_FIELDS)
    assert payload["score_id"] == scored["id"] and payload["score"] == scored["score"]
    assert payload["pd"] == scored["pd"] and payload["grade"] == scored["grade"]
    assert payload["reason_codes"] == [r["code"] for r in scored["reasons"]]
    assert payload["created_at"] == scored["created_at"]
    assert payload["model_sha256"] == scored["model_sha256"]
    features = {c["feature"]: c["value"] for c in scored["contributions"]}
    assert payload["features_sha256"] == features_sha256(features)
    assert "=" not in scored["receipt"]["signature"]


def test_a_changed_payload_or_signature_fails(scored: dict[str, Any], published: dict[str, Any]) -> None:
    receipt = scored["receipt"]
    payload = json.loads(receipt["payload"])
    forged = canonical_json({**payload, "score": payload["score"] + 40})
    assert not check_receipt({**receipt, "payload": forged}, published["keys"]).valid
    flipped = ("A" if receipt["signature"][0] != "A" else "B") + receipt["signature"][1:]
    assert not check_receipt({**receipt, "signature": flipped}, published["keys"]).valid
    assert not check_receipt({**receipt, "key_id": "sig-unknown"}, published["keys"]).valid
    assert not check_receipt({**receipt, "alg": "RS256"}, published["keys"]).valid


def _run(args: list[str], env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli_app, args, env=env)


def test_verify_receipt_command(
    scored: dict[str, Any], published: dict[str, Any], tmp_path: Path, keys_dir: Path
) -> None:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps(published))
    response_file = tmp_path / "score.json"
    response_file.write_text(json.dumps(scored))
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_text(json.dumps(scored["receipt"]))

    ok = _run(["verify-receipt", str(response_file), "--keys", str(keys_file)])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output) == {
        "valid": True,
        "reason": "signature verifies and the response matches the signed payload",
        "key_id": scored["receipt"]["key_id"],
        "score_id": scored["id"],
    }
    assert _run(["verify-receipt", str(receipt_file), "--keys", str(keys_file)]).exit_code == 0
    local = _run(["verify-receipt", str(receipt_file)], env={"AGRIFIN_KEYS_DIR": str(keys_dir)})
    assert local.exit_code == 0, local.output

    payload = json.loads(scored["receipt"]["payload"])
    tampered = {
        **scored,
        "receipt": {**scored["receipt"], "payload": canonical_json({**payload, "grade": "A"})},
    }
    response_file.write_text(json.dumps(tampered))
    bad = _run(["verify-receipt", str(response_file), "--keys", str(keys_file)])
    assert bad.exit_code == 1 and json.loads(bad.output)["valid"] is False

    edited_response = {**scored, "score": scored["score"] + 1}  # receipt intact, response edited
    response_file.write_text(json.dumps(edited_response))
    assert _run(["verify-receipt", str(response_file), "--keys", str(keys_file)]).exit_code == 1


def test_audit_entry_holds_the_receipt_payload_hash(scored: dict[str, Any], ctx: ServiceContext) -> None:
    from shared.audit import audit_entries

    with ctx.db.unit_of_work(read_only=True) as session:
        (entry,) = audit_entries(session, ctx.tables, subject=f"score:{scored['id']}")
    assert entry["payload"]["receipt_payload_sha256"] == sha256_hex(scored["receipt"]["payload"])
