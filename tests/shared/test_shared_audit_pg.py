"""On PostgreSQL, transactions writing different audit chains do not wait for each other, and
those writing one chain take its lock in one order (no deadlock), at commit only."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.audit import _PG_LOCK_SPACE, append_audit, chain_for, verify_chain
from shared.commit_tail import at_commit
from shared.platform import ServiceContext
from tests.support import race

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("postgres_only")]

LOW, HIGH = "loan:4", "loan:1"  # chains 2 and 12
WAIT = 60  # a bound on waiting for the other thread only; nothing is timed


def _append(session: Session, ctx: ServiceContext, subject: str) -> None:
    append_audit(
        session,
        ctx.tables,
        ctx.keyring,
        actor="admin:k1",
        action="loan.changed",
        subject=subject,
        payload={"subject": subject},
        now=ctx.clock.now(),
    )


def _audit_locks(ctx: ServiceContext, pid: int) -> dict[int, bool]:
    """Audit chain locks of backend ``pid``: chain -> granted (False: waiting for it)."""
    with ctx.db.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT objid, granted FROM pg_locks WHERE locktype = 'advisory' AND classid = :space "
                "AND objsubid = 2 AND pid = :pid"
            ),
            {"space": _PG_LOCK_SPACE, "pid": pid},
        )
        return {int(r.objid): bool(r.granted) for r in rows}


@contextmanager
def held_at_commit(ctx: ServiceContext, *subjects: str) -> Iterator[int]:
    """A transaction that wrote ``subjects`` and stops inside its commit tail, after the audit
    step, its locks held; yields its backend pid, and commits when the block ends."""
    ready, release, failed = threading.Event(), threading.Event(), []
    pid: list[int] = []

    def hold(session: Session) -> None:
        pid.append(int(session.execute(text("SELECT pg_backend_pid()")).scalar_one()))
        ready.set()
        if not release.wait(WAIT):
            raise RuntimeError("never released")

    def run() -> None:
        try:
            with ctx.db.unit_of_work() as session:
                for subject in subjects:
                    _append(session, ctx, subject)
                at_commit(session, lambda: hold(session))  # queued after the audit step: runs after it
        except BaseException as exc:  # surfaced below
            failed.append(exc)
            ready.set()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert ready.wait(WAIT) and not failed, failed
        yield pid[0]
    finally:
        release.set()
        thread.join(WAIT)
    assert not thread.is_alive() and not failed, failed


def test_no_lock_is_taken_before_the_commit(make_ctx: Callable[[str], ServiceContext]) -> None:
    ctx = make_ctx("loans")
    with ctx.db.unit_of_work() as session:
        _append(session, ctx, HIGH)
        pid = int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
        assert _audit_locks(ctx, pid) == {}


def test_transactions_on_different_chains_hold_their_locks_at_once(
    make_ctx: Callable[[str], ServiceContext],
) -> None:
    ctx = make_ctx("loans")
    assert chain_for(LOW) < chain_for(HIGH)
    with held_at_commit(ctx, HIGH) as first:
        assert _audit_locks(ctx, first) == {chain_for(HIGH): True}
        with held_at_commit(ctx, LOW) as second:  # would never get here if both shared one lock
            assert _audit_locks(ctx, second) == {chain_for(LOW): True}
            assert _audit_locks(ctx, first) == {chain_for(HIGH): True}
    with ctx.db.unit_of_work(read_only=True) as session:
        assert verify_chain(session, ctx.tables, ctx.keyring).as_dict()["entries"] == 2


def test_a_transaction_takes_its_chains_locks_in_ascending_order(
    make_ctx: Callable[[str], ServiceContext],
) -> None:
    ctx = make_ctx("loans")
    waiting: list[int] = []
    done = threading.Event()

    def second_writer() -> None:
        with ctx.db.unit_of_work() as session:
            waiting.append(int(session.execute(text("SELECT pg_backend_pid()")).scalar_one()))
            _append(session, ctx, HIGH)  # queued high first, low second
            _append(session, ctx, LOW)
        done.set()

    with held_at_commit(ctx, LOW):
        thread = threading.Thread(target=second_writer)
        thread.start()
        for _ in range(10_000):  # until the second writer queues for the low chain's lock
            if waiting and _audit_locks(ctx, waiting[0]):
                break
            done.wait(0.01)
        # It waits for the low chain and holds nothing meanwhile: the lock order is ascending.
        assert _audit_locks(ctx, waiting[0]) == {chain_for(LOW): False}
        assert not done.is_set()
    thread.join(WAIT)
    assert done.is_set()
    with ctx.db.unit_of_work(read_only=True) as session:
        report = verify_chain(session, ctx.tables, ctx.keyring)
    assert report.ok and report.entries == 3


def test_concurrent_writers_on_many_chains_all_commit_and_verify(
    make_ctx: Callable[[str], ServiceContext],
) -> None:
    ctx = make_ctx("loans")

    def write(i: int) -> None:
        for j in range(5):
            with ctx.db.unit_of_work() as session:
                _append(session, ctx, f"loan:{(i * 5 + j) % 7}")
                _append(session, ctx, f"loan:{(i + j) % 11}")

    race(6, write)
    t = ctx.tables.audit_log
    with ctx.db.unit_of_work(read_only=True) as session:
        report = verify_chain(session, ctx.tables, ctx.keyring)
        seqs = sorted(int(s) for s in session.execute(t.select().with_only_columns(t.c.seq)).scalars())
    assert report.ok and report.entries == 60, report
    assert len(set(seqs)) == 60
