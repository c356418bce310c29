"""Receipts verify offline with the published key; any change to them does not."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import factory.random
import pytest
import rfc8785
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.cli import app as cli_app
from services.scoring.app import create_app
from services.scoring.domain.receipt import (
    PAYLOAD_FIELDS_V2,
    check_receipt,
    check_score_document,
    features_sha256,
)
from services.scoring.settings import ScoringContext
from shared.auth import Role
from shared.clock import utc_iso
from shared.crypto import Keyring, b64url, canonical_json, sha256_hex
from shared.platform import ServiceContext
from tests.factories.scoring import ScoreRequestFactory
from tests.scoring.api.receipt_kit import own_keyring, store_v1_receipt
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
    assert all(
        set(k) == {"key_id", "alg", "public_key", "valid_from", "valid_until"} for k in published["keys"]
    )


def test_the_receipt_signs_the_decision(scored: dict[str, Any], published: dict[str, Any]) -> None:
    check = check_receipt(scored["receipt"], published["keys"])
    assert check.valid and check.receipt_version == 2, check.reason
    text = scored["receipt"]["payload"]
    payload = json.loads(text)
    assert text.encode() == rfc8785.dumps(payload)  # RFC 8785: anyone can recompute the bytes
    assert set(payload) == set(PAYLOAD_FIELDS_V2)
    assert payload["score_id"] == scored["id"] and payload["score"] == scored["score"]
    assert payload["pd"] == scored["pd"] and payload["grade"] == scored["grade"]
    assert payload["decision_hint"] == scored["decision_hint"]
    assert payload["hint_thresholds"] == {"approve_min_score": 580, "decline_below_score": 520}
    assert payload["base_points"] == scored["base_points"]
    assert payload["integer_score"] == scored["integer_score"]
    assert payload["integer_base_points"] == scored["integer_base_points"]
    assert [(p["feature"], p["points"], p["integer_points"]) for p in payload["points"]] == [
        (c["feature"], c["points"], c["integer_points"]) for c in scored["contributions"]
    ]
    assert [(r["code"], r["feature"], r["texts"]["en"]) for r in payload["reasons"]] == [
        (r["code"], r["feature"], r["text"]) for r in scored["reasons"]
    ]
    assert all(set(r["texts"]) == {"en", "zh"} for r in payload["reasons"])
    assert payload["created_at"] == scored["created_at"]
    assert payload["model_sha256"] == scored["model_sha256"] and payload["spec_version"] == "1.2.0"
    features = {c["feature"]: c["value"] for c in scored["contributions"]}
    assert payload["features_sha256"] == features_sha256(features)
    assert "=" not in scored["receipt"]["signature"]
    assert check_score_document(scored, published).valid


def test_the_answer_in_chinese_still_matches_what_was_signed(
    client: TestClient, headers: Headers, scored: dict[str, Any], published: dict[str, Any]
) -> None:
    zh = client.get(f"/v1/scores/{scored['id']}", headers=headers(Role.AUDITOR), params={"lang": "zh"}).json()
    assert zh["receipt"] == scored["receipt"]
    assert check_score_document(zh, published).valid
    first = zh["contributions"][0]
    moved = [{**first, "integer_points": first["integer_points"] + 1}, *zh["contributions"][1:]]
    assert not check_score_document({**zh, "contributions": moved}, published).valid


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


def test_a_decision_signed_before_v2_still_verifies(
    client: TestClient, headers: Headers, ctx: ScoringContext, scored: dict[str, Any], tmp_path: Path
) -> None:
    receipt = store_v1_receipt(ctx, scored["id"])
    old = client.get(f"/v1/scores/{scored['id']}", headers=headers(Role.AUDITOR)).json()
    assert old["receipt"] == receipt and "receipt_version" not in json.loads(receipt["payload"])
    published = client.get("/v1/keys").json()
    check = check_score_document(old, published)
    assert check.valid and check.receipt_version == 1, check.reason
    assert not check_score_document({**old, "grade": "A" if old["grade"] != "A" else "B"}, published).valid
    saved, keys_file = tmp_path / "old.json", tmp_path / "keys.json"
    saved.write_text(json.dumps(old))
    keys_file.write_text(json.dumps(published))
    result = _run(["verify-receipt", str(saved), "--keys", str(keys_file)])
    assert result.exit_code == 0, result.output
    replayed = client.post(f"/v1/scores/{scored['id']}/replay", headers=headers(Role.AUDITOR)).json()
    assert replayed["identical"] is True, replayed["differences"]


def test_after_rotation_the_new_key_signs_and_old_receipts_still_verify(
    ctx: ScoringContext,
    champions: dict[str, str],
    client_for: Callable[..., TestClient],
    headers: Headers,
    tmp_path: Path,
) -> None:
    ring = own_keyring(ctx, tmp_path / "keys")
    client = client_for(create_app(ctx), raise_server_exceptions=False)
    factory.random.reseed_random("rotation")
    before = post_score(client, headers(Role.LOAN_OFFICER), ScoreRequestFactory())
    old_key = before["receipt"]["key_id"]
    ctx.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    rotated_at = ctx.clock.now()
    new_key = Keyring.rotate_signing(tmp_path / "keys", now=rotated_at)
    ctx.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    after = post_score(client, headers(Role.LOAN_OFFICER), ScoreRequestFactory())
    assert after["receipt"]["key_id"] == new_key != old_key  # the running service noticed
    published = client.get("/v1/keys").json()
    validity = {k["key_id"]: (k["valid_from"], k["valid_until"]) for k in published["keys"]}
    assert validity == {old_key: (None, utc_iso(rotated_at)), new_key: (utc_iso(rotated_at), None)}
    assert published == {"keys": ring.public_keys()}
    for answer in (before, after):
        assert check_score_document(answer, published).valid
        replay = client.post(f"/v1/scores/{answer['id']}/replay", headers=headers(Role.AUDITOR)).json()
        assert replay["identical"] is True, replay["differences"]
    payload = json.loads(after["receipt"]["payload"])  # the old key, dated after its retirement
    late = {**after["receipt"], "key_id": old_key}
    late["signature"] = b64url(ring.signing[old_key].sign(late["payload"].encode()))
    check = check_score_document({**after, "receipt": late}, published)
    assert not check.valid and check.reason == (
        f"key {old_key!r} was retired at {utc_iso(rotated_at)}; "
        f"the receipt claims {payload['created_at']}, after its retirement"
    )
