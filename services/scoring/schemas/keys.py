"""The published receipt verification keys, each with its validity period."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PublicKey(BaseModel):
    """A receipt verification key (base64url of the raw 32 bytes) and when it could sign."""

    key_id: str
    alg: str
    public_key: str
    valid_from: str | None = Field(
        description="ISO-8601 UTC from when the key signs; null: since before rotation was recorded"
    )
    valid_until: str | None = Field(
        description="ISO-8601 UTC when the key was retired (exclusive); null for the current key"
    )


class PublicKeys(BaseModel):
    """Every key that verifies receipts (the current one signs; retired ones keep verifying the
    receipts they signed while they were valid)."""

    keys: list[PublicKey]
