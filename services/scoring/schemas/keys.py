"""The published receipt verification keys."""

from __future__ import annotations

from pydantic import BaseModel


class PublicKey(BaseModel):
    """A receipt verification key (base64url of the raw 32 bytes)."""

    key_id: str
    alg: str
    public_key: str


class PublicKeys(BaseModel):
    """Every key that verifies receipts (the newest signs)."""

    keys: list[PublicKey]
