"""Signing-key rotation: a new key signs from its start, the retired key keeps verifying what it
signed, and both are published with their validity (shared.crypto.Keyring)."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.crypto import SIGNING_KEYS_FILE, CryptoError, Keyring, b64url
from shared.receipts import PAYLOAD_FIELDS_V2, check_receipt, jcs

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
T1 = T0 + timedelta(days=30)


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    Keyring.generate(tmp_path)
    return tmp_path


def _receipt(ring: Keyring, created_at: datetime, *, key_id: str | None = None) -> dict[str, str]:
    fields = dict.fromkeys(PAYLOAD_FIELDS_V2, "x")  # only the time matters here
    payload = jcs(
        {**fields, "receipt_version": 2, "created_at": created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    )
    if key_id is None:
        key_id, signature = ring.sign(payload, at=created_at)
    else:  # signed by a chosen key, whatever its validity (what the holder of an old key can do)
        signature = b64url(ring.signing[key_id].sign(payload.encode()))
    return {"alg": "Ed25519", "key_id": key_id, "payload": payload, "signature": signature}


def _check(receipt: dict[str, str], published: list[dict[str, str | None]]) -> tuple[bool, str]:
    check = check_receipt(receipt, published)
    return check.valid, check.reason


def test_before_any_rotation_every_key_is_unbounded(keys: Path) -> None:
    ring = Keyring.load(keys)
    (published,) = ring.public_keys()
    assert published["valid_from"] is None and published["valid_until"] is None
    assert not (keys / SIGNING_KEYS_FILE).exists()


def test_rotation_retires_the_old_key_and_the_new_one_signs(keys: Path) -> None:
    ring = Keyring.load(keys)
    old = ring.active_signing_key_id
    before = _receipt(ring, T0)
    new = Keyring.rotate_signing(keys, now=T1)
    assert new != old and ring.active_signing_key_id == new  # the running keyring noticed
    published = {k["key_id"]: k for k in ring.public_keys()}
    assert published[old]["valid_until"] == "2026-04-01T08:00:00.000000Z"
    assert published[new]["valid_from"] == "2026-04-01T08:00:00.000000Z"
    assert published[new]["valid_until"] is None
    after = _receipt(ring, T1 + timedelta(seconds=1))
    assert after["key_id"] == new and before["key_id"] == old
    keys_now = ring.public_keys()
    assert _check(before, keys_now)[0]  # a retired key's old receipt still verifies
    assert _check(after, keys_now)[0]
    late = _receipt(ring, T1 + timedelta(seconds=1), key_id=old)  # the old key, dated after retirement
    valid, reason = _check(late, keys_now)
    assert not valid and reason == (
        f"key {old!r} was retired at 2026-04-01T08:00:00.000000Z; "
        "the receipt claims 2026-04-01T08:00:01.000000Z, after its retirement"
    )
    assert _receipt(ring, T1 - timedelta(seconds=1))["key_id"] == old  # dated before: the old key signs


def test_the_validity_file_is_written_atomically_and_readable(keys: Path) -> None:
    new = Keyring.rotate_signing(keys, now=T1)
    path = keys / SIGNING_KEYS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE((keys / f"signing-{new}.pem").stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert document["format"] == "agrifin-signing-keys/1"
    assert [k["valid_until"] for k in document["keys"]] == ["2026-04-01T08:00:00.000000Z", None]
    assert not list(keys.glob(".signing-keys-*"))  # no temporary file left behind
    third = Keyring.rotate_signing(keys, now=T1 + timedelta(days=1))
    ring = Keyring.load(keys)
    assert ring.active_signing_key_id == third and len(ring.public_keys()) == 3
    validity = ring.key_validity()
    assert validity[new].valid_until == T1 + timedelta(days=1)


def test_rotation_never_goes_back_in_time(keys: Path) -> None:
    Keyring.rotate_signing(keys, now=T1)
    with pytest.raises(CryptoError, match="the current key is valid from 2026-04-01"):
        Keyring.rotate_signing(keys, now=T1)
    with pytest.raises(CryptoError):
        Keyring.rotate_signing(keys, now=T0)


def test_a_corrupt_validity_file_is_refused(keys: Path) -> None:
    (keys / SIGNING_KEYS_FILE).write_text("{not json")
    with pytest.raises(CryptoError, match="not a signing-keys file"):
        Keyring.load(keys)


def test_agrifin_keys_rotate_signing(keys: Path) -> None:
    from typer.testing import CliRunner

    from services.cli import app

    old = Keyring.load(keys).active_signing_key_id
    result = CliRunner().invoke(app, ["keys", "rotate-signing"], env={"AGRIFIN_KEYS_DIR": str(keys)})
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    ring = Keyring.load(keys)
    assert out["signing_key"] == ring.active_signing_key_id != old
    assert out["keys"] == ring.public_keys()
    published = {k["key_id"]: k for k in out["keys"]}
    assert published[old]["valid_until"] == published[out["signing_key"]]["valid_from"] is not None
    (keys / SIGNING_KEYS_FILE).write_text("{}")  # unreadable: refused in words, nothing changes
    refused = CliRunner().invoke(app, ["keys", "rotate-signing"], env={"AGRIFIN_KEYS_DIR": str(keys)})
    assert refused.exit_code == 1 and "not a signing-keys file" in refused.output
    assert len(list(keys.glob("signing-*.pem"))) == 2
