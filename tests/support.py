"""Helpers the tests share: API keys and auth headers."""

from __future__ import annotations

from shared.auth import Role, create_api_key
from shared.platform import ServiceContext


def issue_key(ctx: ServiceContext, role: Role | str, owner: str | None = None) -> str:
    """Create an API key directly in a service's database; return the plaintext."""
    with ctx.db.unit_of_work() as session:
        _, key = create_api_key(session, ctx.tables, role=Role(role), owner=owner, label="test",
                                now=ctx.clock.now())
    return key


def auth(key: str, **extra: str) -> dict[str, str]:
    """Headers carrying a bearer key (and any extra headers)."""
    return {"Authorization": f"Bearer {key}", **extra}
