"""Published receipt verification keys (public)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends

from services.scoring.schemas import PublicKeys
from shared.api import ContextDep, service_router
from shared.auth import public_access

router = service_router(prefix="/v1", tags=["keys"])


@router.get("/keys", response_model=PublicKeys, dependencies=[Depends(public_access())])
def public_keys(ctx: ContextDep) -> dict[str, Any]:
    """Ed25519 public keys that verify score receipts: ``{keys: [{key_id, alg, public_key,
    valid_from, valid_until}]}``; a receipt verifies only with a key valid at its ``created_at``."""
    return {"keys": ctx.keyring.public_keys()}
