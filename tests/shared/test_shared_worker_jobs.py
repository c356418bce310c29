"""The platform jobs every service's worker runs: the audit anchor (outbox and webhook
delivery are tested with the webhooks)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from shared.audit import verify_chain
from shared.changes import record_change
from shared.platform import ServiceContext
from shared.worker import platform_jobs


def test_every_service_worker_anchors_its_audit_chains(make_ctx: Callable[[str], ServiceContext]) -> None:
    ctx = make_ctx("escrow")
    with httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(204))) as client:
        jobs = {name: (interval, job) for name, interval, job in platform_jobs(ctx, client)}
    interval, anchor = jobs["escrow.audit.anchor"]
    assert interval == ctx.settings.audit_anchor_seconds
    assert anchor() == 0  # nothing to anchor yet
    with ctx.db.unit_of_work() as session:
        for n in range(3):
            record_change(
                session, ctx, actor="admin:k1", action="thing.made", subject=f"thing:{n}", payload={"n": n}
            )
    assert anchor() == 1
    assert anchor() == 0  # no chain moved since
    with ctx.db.unit_of_work(read_only=True) as session:
        report = verify_chain(session, ctx.tables, ctx.keyring).as_dict()
    assert report["ok"] and report["anchors"] == 1 and report["unanchored_entries"] == 0
