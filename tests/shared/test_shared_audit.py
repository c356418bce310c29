"""The audit chain detects an edited, deleted or reordered entry and names it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import delete, update

from shared.audit import append_audit, verify_chain
from shared.platform import ServiceContext


@pytest.fixture
def ctx(make_ctx: Callable[[str], ServiceContext]) -> ServiceContext:
    ctx = make_ctx("loans")
    with ctx.db.unit_of_work() as session:
        for i in range(1, 6):
            ctx.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
            append_audit(
                session,
                ctx.tables,
                ctx.keyring,
                actor="admin:k1",
                action="loan.approved",
                subject=f"loan:{i}",
                payload={"amount_minor": 1000 * i},
                now=ctx.clock.now(),
            )
    return ctx


def _verify(ctx: ServiceContext, expect_head: str | None = None) -> tuple[bool, int | None, str | None]:
    with ctx.db.unit_of_work(read_only=True) as session:
        report = verify_chain(session, ctx.tables, ctx.keyring, expect_head=expect_head)
    return report.ok, report.first_broken_seq, report.reason


def _head(ctx: ServiceContext) -> str:
    with ctx.db.unit_of_work(read_only=True) as session:
        return str(verify_chain(session, ctx.tables, ctx.keyring).as_dict()["head"])


def test_an_intact_chain_verifies(ctx: ServiceContext) -> None:
    assert _verify(ctx) == (True, None, None)


def test_an_edited_payload_is_found(ctx: ServiceContext) -> None:
    t = ctx.tables.audit_log
    with ctx.db.unit_of_work() as session:
        session.execute(update(t).where(t.c.seq == 3).values(payload='{"amount_minor":1}'))
    ok, seq, reason = _verify(ctx)
    assert (ok, seq) == (False, 3) and reason and "edited" in reason


def test_an_edited_and_rehashed_entry_is_found(ctx: ServiceContext) -> None:
    from shared.crypto import sha256_hex

    t = ctx.tables.audit_log
    forged = '{"amount_minor":1}'
    with ctx.db.unit_of_work() as session:
        session.execute(update(t).where(t.c.seq == 2).values(payload=forged, payload_hash=sha256_hex(forged)))
    assert _verify(ctx)[:2] == (False, 2)


def test_an_edited_actor_is_found(ctx: ServiceContext) -> None:
    t = ctx.tables.audit_log
    with ctx.db.unit_of_work() as session:
        session.execute(update(t).where(t.c.seq == 4).values(actor="admin:someone-else"))
    assert _verify(ctx)[:2] == (False, 4)


def test_a_deleted_entry_is_found(ctx: ServiceContext) -> None:
    t = ctx.tables.audit_log
    with ctx.db.unit_of_work() as session:
        session.execute(delete(t).where(t.c.seq == 2))
    ok, seq, reason = _verify(ctx)
    assert (ok, seq) == (False, 2) and reason and "missing" in reason


def test_a_deleted_first_entry_is_found(ctx: ServiceContext) -> None:
    t = ctx.tables.audit_log
    with ctx.db.unit_of_work() as session:
        session.execute(delete(t).where(t.c.seq == 1))
    assert _verify(ctx)[:2] == (False, 1)


def test_reordered_entries_are_found(ctx: ServiceContext) -> None:
    t = ctx.tables.audit_log
    with ctx.db.unit_of_work() as session:
        rows = {r.seq: r for r in session.execute(t.select().where(t.c.seq.in_([3, 4])))}
        for seq, other in ((3, 4), (4, 3)):
            values = {k: v for k, v in rows[other]._mapping.items() if k != "seq"}
            session.execute(update(t).where(t.c.seq == seq).values(**values))
    assert _verify(ctx)[:2] == (False, 3)


def test_a_truncated_tail_is_found_against_a_recorded_head(ctx: ServiceContext) -> None:
    head = _head(ctx)
    assert head.startswith("5:")
    assert _verify(ctx, expect_head=head) == (True, None, None)
    t = ctx.tables.audit_log
    with ctx.db.unit_of_work() as session:
        session.execute(delete(t).where(t.c.seq >= 4))
    assert _verify(ctx)[0]  # internally consistent: only the anchor shows the loss
    ok, seq, reason = _verify(ctx, expect_head=head)
    assert (ok, seq) == (False, 4) and reason and "truncated" in reason


def test_a_rewritten_chain_is_found_against_a_recorded_head(ctx: ServiceContext) -> None:
    head = _head(ctx)
    t = ctx.tables.audit_log
    with ctx.db.unit_of_work() as session:
        session.execute(delete(t).where(t.c.seq == 5))
        append_audit(
            session,
            ctx.tables,
            ctx.keyring,
            actor="admin:k1",
            action="loan.approved",
            subject="loan:5",
            payload={"amount_minor": 1},
            now=ctx.clock.now(),
        )
    assert _verify(ctx)[0]  # re-signed with our own key, so only the anchor shows it
    assert _verify(ctx, expect_head=head)[:2] == (False, 5)
