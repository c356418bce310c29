"""Audit entries for money movements, appended as the transaction's last statement."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services.escrow.repository.commit_tail import at_commit
from shared.audit import append_audit
from shared.platform import ServiceContext


def audit_at_commit(
    session: Session, ctx: ServiceContext, *, actor: str, action: str, subject: str, payload: dict[str, Any],
) -> None:
    """Queue an audit entry; it joins the chain at commit, after the hot balances (``commit_tail``).

    The chain head is one lock every audited transaction shares, so it is taken last and held
    only for the commit. The entry commits with the change it records, or not at all.
    """
    now = ctx.clock.now()
    at_commit(session, lambda: append_audit(session, ctx.tables, ctx.keyring, actor=actor, action=action,
                                            subject=subject, payload=payload, now=now))
