"""Keys, signatures and field encryption.

- Ed25519 signing keys with key ids (score receipts, audit entries); the current key signs,
  every key verifies, so keys rotate without breaking old signatures. Each signing key has a
  validity period (``valid_from``, ``valid_until``; null: unbounded), published with it: a
  receipt verifies only with a key that was valid at the time it claims
  (:func:`shared.receipts.check_receipt`). :meth:`Keyring.rotate_signing` (``agrifin keys
  rotate-signing``) adds a key valid from now and retires every current one at the same
  instant; a running process notices the change at its next signature (one ``stat``).
- AES-256-GCM field encryption with key ids: ``v1.<key_id>.<base64url(nonce || ciphertext)>``;
  the newest key encrypts, any known key decrypts.
- A keyed hash (HMAC-SHA256 with a separate lookup key) for equality look-ups of encrypted
  values (find a borrower by national id without decrypting the table).

Key files live in one directory (``./var/keys/`` in the embedded default)::

    signing-<key_id>.pem   PKCS#8 Ed25519 private key (0600)
    signing-keys.json      the signing keys' validity (0644, replaced atomically; absent until
                           the first rotation: every key unbounded, the newest id signs)
    field-<key_id>.key     base64url 32-byte AES key
    lookup.key             base64url 32-byte HMAC key

``signing-keys.json`` is ``{"format": "agrifin-signing-keys/1", "keys": [{"key_id",
"valid_from", "valid_until"}]}`` with ISO-8601 UTC times (``…Z``) or null.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.clock import utc_iso
from shared.settings import DEV_MARKER

SIGNING_KEYS_FILE = "signing-keys.json"
SIGNING_KEYS_FORMAT = "agrifin-signing-keys/1"


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


def _new_signing_key(directory: Path) -> str:
    """Write a new Ed25519 key ``signing-<id>.pem`` (0600); returns its id."""
    key_id = _new_key_id("sig")
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_private(directory / f"signing-{key_id}.pem", pem)
    return key_id


def parse_utc(text: str) -> datetime:
    """An ISO-8601 time (``Z`` or an offset) as an aware UTC datetime; naive means UTC."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class KeyValidity:
    """When a signing key may sign: ``[valid_from, valid_until)``; None is unbounded."""

    valid_from: datetime | None = None
    valid_until: datetime | None = None

    def covers(self, when: datetime) -> bool:
        """True when ``when`` lies in the period."""
        return (self.valid_from is None or self.valid_from <= when) and (
            self.valid_until is None or when < self.valid_until
        )

    def to_json(self) -> dict[str, str | None]:
        """``{valid_from, valid_until}`` as ISO-8601 UTC (or null)."""
        return {
            "valid_from": None if self.valid_from is None else utc_iso(self.valid_from),
            "valid_until": None if self.valid_until is None else utc_iso(self.valid_until),
        }


def _read_validity(directory: Path) -> dict[str, KeyValidity] | None:
    """The recorded validity of the signing keys, or None before the first rotation."""
    path = directory / SIGNING_KEYS_FILE
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        return {
            str(k["key_id"]): KeyValidity(
                None if k.get("valid_from") is None else parse_utc(str(k["valid_from"])),
                None if k.get("valid_until") is None else parse_utc(str(k["valid_until"])),
            )
            for k in document["keys"]
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise CryptoError(f"{path} is not a signing-keys file: {exc}") from exc


def _write_validity(directory: Path, validity: dict[str, KeyValidity]) -> None:
    """Replace ``signing-keys.json`` atomically (a reader sees the old file or the new one)."""
    ordered = sorted(validity.items(), key=lambda kv: (kv[1].valid_from is not None, kv[1].valid_from, kv[0]))
    document = {
        "format": SIGNING_KEYS_FORMAT,
        "keys": [{"key_id": key_id, **period.to_json()} for key_id, period in ordered],
    }
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".signing-keys-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, directory / SIGNING_KEYS_FILE)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _stat_token(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


@dataclass
class Keyring:
    """Every key the process knows, loaded from a keys directory."""

    signing: dict[str, Ed25519PrivateKey] = field(default_factory=dict)
    field_keys: dict[str, bytes] = field(default_factory=dict)
    lookup_key: bytes = b""
    validity: dict[str, KeyValidity] | None = None
    """The signing keys' recorded validity (None before the first rotation: all unbounded)."""
    directory: Path | None = None
    """Where the keys were loaded from: the signing state is re-read when it changes there."""
    _seen: tuple[int, int, int] | None = field(default=None, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def load(cls, directory: Path) -> Keyring:
        """Load all keys under ``directory``; raise CryptoError when a kind is missing."""
        ring = cls(directory=directory)
        ring._load_signing(directory)
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

    def _load_signing(self, directory: Path) -> None:
        """(Re-)read the signing keys and their validity (other kinds never change at run time)."""
        seen = _stat_token(directory / SIGNING_KEYS_FILE)
        signing: dict[str, Ed25519PrivateKey] = {}
        for path in sorted(directory.glob("signing-*.pem")):
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise CryptoError(f"{path} is not an Ed25519 key")
            signing[path.stem.removeprefix("signing-")] = key
        self.signing, self.validity, self._seen = signing, _read_validity(directory), seen

    def _refresh(self) -> None:
        """Re-read the signing state when ``signing-keys.json`` changed (a rotation happened)."""
        if self.directory is None:
            return
        with self._lock:
            if _stat_token(self.directory / SIGNING_KEYS_FILE) != self._seen:
                self._load_signing(self.directory)

    @classmethod
    def rotate_signing(cls, directory: Path, *, now: datetime) -> str:
        """Add a signing key valid from ``now`` and retire every current one at ``now``; returns
        the new key's id. Receipts signed before keep verifying with the retired keys."""
        ring = cls.load(directory)
        validity = ring.key_validity()
        latest = max((v.valid_from for v in validity.values() if v.valid_from is not None), default=None)
        if latest is not None and now <= latest:
            raise CryptoError(
                f"cannot rotate at {utc_iso(now)}: the current key is valid from {utc_iso(latest)}"
            )
        retired = {
            key_id: KeyValidity(v.valid_from, now if v.valid_until is None else v.valid_until)
            for key_id, v in validity.items()
        }
        key_id = _new_signing_key(directory)  # the key first: a recorded key always has its PEM
        try:
            _write_validity(directory, {**retired, key_id: KeyValidity(now, None)})
        except BaseException:
            (directory / f"signing-{key_id}.pem").unlink(missing_ok=True)
            raise
        return key_id

    def key_validity(self) -> dict[str, KeyValidity]:
        """Every signing key's validity (unbounded when not recorded)."""
        recorded = self.validity or {}
        return {key_id: recorded.get(key_id, KeyValidity()) for key_id in sorted(self.signing)}

    @staticmethod
    def generate(directory: Path, *, development: bool = True) -> None:
        """Write any missing key kinds into ``directory`` (first embedded start)."""
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        if not any(directory.glob("signing-*.pem")):
            _new_signing_key(directory)
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
        """The key id that signs new payloads: the current one (the newest)."""
        self._refresh()
        return self._current()

    def _current(self) -> str:
        if self.validity is None:
            return max(self.signing)
        current = [(v.valid_from, k) for k, v in self.key_validity().items() if v.valid_until is None]
        if not current:
            raise CryptoError("no current signing key: every key is retired")
        return max(current, key=lambda item: (item[0] is not None, item[0], item[1]))[1]

    def signing_key_at(self, when: datetime) -> str:
        """The key that signs what is dated ``when``: the newest key valid then (the current
        key when none is, e.g. a clock behind the rotation's)."""
        self._refresh()
        valid = [(v.valid_from, k) for k, v in self.key_validity().items() if v.covers(when)]
        if self.validity is None or not valid:
            return self._current()
        return max(valid, key=lambda item: (item[0] is not None, item[0], item[1]))[1]

    def sign(self, payload: str, *, at: datetime | None = None) -> tuple[str, str]:
        """Sign ``payload``'s UTF-8 bytes; return (key_id, base64url signature). With ``at``
        (the time the payload states) the key valid at that time signs, else the current one."""
        key_id = self.signing_key_at(at) if at is not None else self.active_signing_key_id
        return key_id, b64url(self.signing[key_id].sign(payload.encode("utf-8")))

    def verify(self, key_id: str, payload: str, signature_b64: str) -> bool:
        """Verify a signature made by one of our keys (at any time: audit entries)."""
        self._refresh()
        key = self.signing.get(key_id)
        return key is not None and verify_signature(key.public_key(), payload, signature_b64)

    def public_keys(self) -> list[dict[str, str | None]]:
        """Published verification keys: ``[{key_id, alg, public_key, valid_from, valid_until}]``."""
        self._refresh()
        validity = self.key_validity()
        return [
            {
                "key_id": kid,
                "alg": "Ed25519",
                "public_key": public_key_b64(key.public_key()),
                **validity[kid].to_json(),
            }
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
