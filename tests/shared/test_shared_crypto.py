"""Signing keys, field encryption and keyed look-up hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.crypto import (
    CryptoError,
    Keyring,
    b64url,
    canonical_json,
    load_public_key,
    verify_signature,
)


@pytest.fixture
def ring(tmp_path: Path) -> Keyring:
    Keyring.generate(tmp_path)
    return Keyring.load(tmp_path)


def test_canonical_json_sorts_keys_and_drops_whitespace() -> None:
    assert canonical_json({"b": 1, "a": [1, 2], "c": "农"}) == '{"a":[1,2],"b":1,"c":"农"}'


def test_signature_verifies_with_the_published_key_and_fails_when_changed(ring: Keyring) -> None:
    key_id, signature = ring.sign('{"score":612}')
    published = {k["key_id"]: k for k in ring.public_keys()}[key_id]
    assert published["alg"] == "Ed25519"
    public = load_public_key(published["public_key"])
    assert verify_signature(public, '{"score":612}', signature)
    assert not verify_signature(public, '{"score":613}', signature)
    assert not verify_signature(public, '{"score":612}', b64url(b"x" * 64))


def test_field_encryption_round_trips_and_binds_context(ring: Keyring) -> None:
    token = ring.encrypt("ID-12345678", context="borrower.national_id")
    assert "ID-12345678" not in token
    assert ring.decrypt(token, context="borrower.national_id") == "ID-12345678"
    with pytest.raises(CryptoError):
        ring.decrypt(token, context="borrower.phone")


def test_tampered_ciphertext_is_refused(ring: Keyring) -> None:
    token = ring.encrypt("+254700000000")
    head, body = token.rsplit(".", 1)
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(CryptoError):
        ring.decrypt(f"{head}.{flipped}")


def test_keys_rotate_old_ciphertexts_still_decrypt(tmp_path: Path, ring: Keyring) -> None:
    old = ring.encrypt("secret")
    (tmp_path / "field-enc-29990101000000-ffffff.key").write_text(b64url(b"k" * 32))
    rotated = Keyring.load(tmp_path)
    new = rotated.encrypt("secret")
    assert ".enc-29990101000000-ffffff." in new
    assert rotated.decrypt(old) == rotated.decrypt(new) == "secret"


def test_lookup_hash_is_stable_normalised_and_keyed(ring: Keyring, tmp_path: Path) -> None:
    assert ring.lookup_hash(" ID-1 ") == ring.lookup_hash("id-1")
    assert ring.lookup_hash("ID-1", context="a") != ring.lookup_hash("ID-1", context="b")
    other_dir = tmp_path / "other"
    Keyring.generate(other_dir)
    assert Keyring.load(other_dir).lookup_hash("ID-1") != ring.lookup_hash("ID-1")


def test_incomplete_keyring_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CryptoError):
        Keyring.load(tmp_path)
