"""Keys, signatures and field encryption.

- Ed25519 signing keys with key ids (score receipts, audit entries); the newest key signs,
  every key verifies, so keys rotate without breaking old signatures.
- AES-256-GCM field encryption with key ids: ``v1.<key_id>.<base64url(nonce || ciphertext)>``;
  the newest key encrypts, any known key decrypts.
- A keyed hash (HMAC-SHA256 with a separate lookup key) for equality look-ups of encrypted
  values (find a borrower by national id without decrypting the table).

Key files live in one directory (``./var/keys/`` in the embedded default)::

    signing-<key_id>.pem   PKCS#8 Ed25519 private key
    field-<key_id>.key     base64url 32-byte AES key
    lookup.key             base64url 32-byte HMAC key
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.settings import DEV_MARKER


class CryptoError(Exception):
    """A signature, ciphertext or key that cannot be used."""


def b64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def canonical_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, no insignificant whitespace, UTF-8 kept as is."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_hex(data: bytes | str) -> str:
    """Hex SHA-256 of bytes (or of a string's UTF-8)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def public_key_b64(key: Ed25519PublicKey) -> str:
    """base64url of the raw 32 public-key bytes."""
    return b64url(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def load_public_key(raw_b64: str) -> Ed25519PublicKey:
    """An Ed25519 public key from base64url of its raw 32 bytes."""
    return Ed25519PublicKey.from_public_bytes(b64url_decode(raw_b64))


def verify_signature(public_key: Ed25519PublicKey, payload: str, signature_b64: str) -> bool:
    """True when ``signature_b64`` is a valid Ed25519 signature of ``payload``'s UTF-8 bytes."""
    try:
        public_key.verify(b64url_decode(signature_b64), payload.encode("utf-8"))
    except (InvalidSignature, ValueError):
        return False
    return True


def _new_key_id(prefix: str) -> str:
    return f"{prefix}-{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


@dataclass
class Keyring:
    """Every key the process knows, loaded from a keys directory."""

    signing: dict[str, Ed25519PrivateKey] = field(default_factory=dict)
    field_keys: dict[str, bytes] = field(default_factory=dict)
    lookup_key: bytes = b""

    @classmethod
    def load(cls, directory: Path) -> Keyring:
        """Load all keys under ``directory``; raise CryptoError when a kind is missing."""
        ring = cls()
        for path in sorted(directory.glob("signing-*.pem")):
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise CryptoError(f"{path} is not an Ed25519 key")
            ring.signing[path.stem.removeprefix("signing-")] = key
        for path in sorted(directory.glob("field-*.key")):
            raw = b64url_decode(path.read_text().strip())
            if len(raw) != 32:
                raise CryptoError(f"{path} must hold a 32-byte key")
            ring.field_keys[path.stem.removeprefix("field-")] = raw
        lookup = directory / "lookup.key"
        if lookup.exists():
            ring.lookup_key = b64url_decode(lookup.read_text().strip())
        if not ring.signing or not ring.field_keys or not ring.lookup_key:
            raise CryptoError(f"incomplete keyring in {directory}; run `agrifin keys init`")
        return ring

    @staticmethod
    def generate(directory: Path, *, development: bool = True) -> None:
        """Write any missing key kinds into ``directory`` (first embedded start)."""
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        if not any(directory.glob("signing-*.pem")):
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            _write_private(directory / f"signing-{_new_key_id('sig')}.pem", pem)
        if not any(directory.glob("field-*.key")):
            _write_private(
                directory / f"field-{_new_key_id('enc')}.key", b64url(AESGCM.generate_key(256)).encode()
            )
        if not (directory / "lookup.key").exists():
            _write_private(directory / "lookup.key", b64url(secrets.token_bytes(32)).encode())
        if development and not (directory / DEV_MARKER).exists():
            (directory / DEV_MARKER).write_text(
                "keys generated by the embedded start; never use in production\n"
            )

    @property
    def active_signing_key_id(self) -> str:
        """The key id that signs new payloads (the newest)."""
        return max(self.signing)

    def sign(self, payload: str) -> tuple[str, str]:
        """Sign ``payload``'s UTF-8 bytes; return (key_id, base64url signature)."""
        key_id = self.active_signing_key_id
        return key_id, b64url(self.signing[key_id].sign(payload.encode("utf-8")))

    def verify(self, key_id: str, payload: str, signature_b64: str) -> bool:
        """Verify a signature made by one of our keys."""
        key = self.signing.get(key_id)
        return key is not None and verify_signature(key.public_key(), payload, signature_b64)

    def public_keys(self) -> list[dict[str, str]]:
        """Published verification keys: ``[{key_id, alg, public_key}]``."""
        return [
            {"key_id": kid, "alg": "Ed25519", "public_key": public_key_b64(key.public_key())}
            for kid, key in sorted(self.signing.items())
        ]

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        """Encrypt a field value with the newest key; ``context`` is bound as associated data."""
        key_id = max(self.field_keys)
        nonce = secrets.token_bytes(12)
        ct = AESGCM(self.field_keys[key_id]).encrypt(nonce, plaintext.encode("utf-8"), context.encode())
        return f"v1.{key_id}.{b64url(nonce + ct)}"

    def decrypt(self, token: str, *, context: str = "") -> str:
        """Decrypt a value produced by ``encrypt`` with whichever key made it."""
        try:
            version, key_id, body = token.split(".", 2)
        except ValueError as exc:
            raise CryptoError("malformed ciphertext") from exc
        if version != "v1" or key_id not in self.field_keys:
            raise CryptoError(f"unknown ciphertext version or key id {key_id!r}")
        raw = b64url_decode(body)
        try:
            plain = AESGCM(self.field_keys[key_id]).decrypt(raw[:12], raw[12:], context.encode())
        except InvalidTag as exc:
            raise CryptoError("ciphertext failed authentication") from exc
        return plain.decode("utf-8")

    def lookup_hash(self, value: str, *, context: str = "") -> str:
        """Keyed hash for equality look-ups of an encrypted value (normalised: stripped, casefolded)."""
        message = f"{context}\x00{value.strip().casefold()}".encode()
        return hmac.new(self.lookup_key, message, hashlib.sha256).hexdigest()

    def hmac_hex(self, message: bytes) -> str:
        """HMAC-SHA256 with the lookup key (for opaque tokens such as API-key hashes)."""
        return hmac.new(self.lookup_key, message, hashlib.sha256).hexdigest()
