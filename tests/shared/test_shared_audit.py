"""The audit chains: partition assignment, appending at commit, and every tamper case found and named."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from shared.audit import (
    ANCHOR_ACTION,
    SERVICE_CHAIN,
    anchor_chains,
    append_audit,
    audit_entries,
    chain_for,
    verify_chain,
)
from shared.changes import record_change
from shared.commit_tail import at_commit
from shared.platform import ServiceContext
from tests.support import count_rows

# Subjects whose chains (of 16) this module relies on: loan:5 and loan:8 share chain 7.
SUBJECTS = {"loan:1": 12, "loan:2": 4, "loan:5": 7, "loan:8": 7}


def append(ctx: ServiceContext, subject: str, count: int = 1, **extra: Any) -> None:
    """``count`` entries about ``subject``, one committed transaction each."""
    for i in range(count):
        ctx.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
        with ctx.db.unit_of_work() as session:
            append_audit(
                session,
                ctx.tables,
                ctx.keyring,
                actor="admin:k1",
                action="loan.changed",
                subject=subject,
                payload={"step": i, **extra},
                now=ctx.clock.now(),
            )


def report(ctx: ServiceContext, expect_head: str | None = None) -> dict[str, Any]:
    with ctx.db.unit_of_work(read_only=True) as session:
        return verify_chain(session, ctx.tables, ctx.keyring, expect_head=expect_head).as_dict()


def broken_at(ctx: ServiceContext, expect_head: str | None = None) -> tuple[int | None, int | None]:
    found = report(ctx, expect_head)
    assert not found["ok"] and found["reason"], found
    return found["first_broken_chain"], found["first_broken_chain_seq"]


def rows(ctx: ServiceContext, chain: int) -> list[dict[str, Any]]:
    t = ctx.tables.audit_log
    with ctx.db.unit_of_work(read_only=True) as session:
        query = select(t).where(t.c.chain == chain).order_by(t.c.chain_seq)
        return [dict(r) for r in session.execute(query).mappings()]


def change(ctx: ServiceContext, at_chain: int, at_chain_seq: int, /, **values: Any) -> None:
    t = ctx.tables.audit_log
    with ctx.db.unit_of_work() as session:
        where = (t.c.chain == at_chain, t.c.chain_seq == at_chain_seq)
        session.execute(update(t).where(*where).values(**values))


def remove(ctx: ServiceContext, chain: int, *, from_seq: int, to_seq: int | None = None) -> None:
    t = ctx.tables.audit_log
    upper = from_seq if to_seq is None else to_seq
    with ctx.db.unit_of_work() as session:
        session.execute(delete(t).where(t.c.chain == chain, t.c.chain_seq.between(from_seq, upper)))


@pytest.fixture
def ctx(make_ctx: Callable[[str], ServiceContext]) -> ServiceContext:
    ctx = make_ctx("loans")
    for subject in SUBJECTS:
        append(ctx, subject, 3)
    return ctx


# ---------------------------------------------------------------- partitions


def test_a_subjects_chain_is_a_stable_hash_of_the_subject() -> None:
    assert {s: chain_for(s) for s in SUBJECTS} == SUBJECTS  # the same in every process and release
    assert chain_for("loan:1", 4) == chain_for("loan:1", 4) and 1 <= chain_for("loan:1", 4) <= 4
    assert {chain_for(f"subject:{i}") for i in range(400)} == set(range(1, 17))
    with pytest.raises(ValueError):
        chain_for("loan:1", 0)


def test_one_subjects_history_is_one_ordered_sub_chain(ctx: ServiceContext) -> None:
    with ctx.db.unit_of_work(read_only=True) as session:
        entries = audit_entries(session, ctx.tables, limit=1000)
    assert [e["seq"] for e in entries] == list(range(1, 13))  # service order, one writer at a time here
    for subject, chain in SUBJECTS.items():
        mine = [e for e in entries if e["subject"] == subject]
        assert {e["chain"] for e in mine} == {chain}
        assert [e["payload"]["step"] for e in mine] == [0, 1, 2]
    shared = [e["chain_seq"] for e in entries if e["chain"] == 7]  # loan:5 then loan:8
    assert shared == [1, 2, 3, 4, 5, 6]
    assert [e["chain_seq"] for e in entries if e["subject"] == "loan:1"] == [1, 2, 3]


def test_an_intact_set_of_chains_verifies(ctx: ServiceContext) -> None:
    found = report(ctx)
    assert found["ok"] and found["entries"] == 12 and found["chains"] == 3, found
    assert found["head"] == f"0:{'0' * 64}"  # nothing in chain 0 until an anchor
    assert found["unanchored_entries"] == 12 and found["anchors"] == 0


def test_several_entries_of_one_transaction_land_in_their_chains_in_order(ctx: ServiceContext) -> None:
    with ctx.db.unit_of_work() as session:
        for subject in ("loan:8", "loan:2", "loan:5", "loan:1"):
            append_audit(
                session,
                ctx.tables,
                ctx.keyring,
                actor="admin:k1",
                action="loan.batch",
                subject=subject,
                payload={},
                now=ctx.clock.now(),
            )
    with ctx.db.unit_of_work(read_only=True) as session:
        batch = [e for e in audit_entries(session, ctx.tables) if e["action"] == "loan.batch"]
    assert [(e["seq"], e["subject"], e["chain_seq"]) for e in batch] == [
        (13, "loan:8", 7),
        (14, "loan:2", 4),
        (15, "loan:5", 8),
        (16, "loan:1", 4),
    ]
    assert report(ctx)["ok"]


# ---------------------------------------------------------------- appending at commit


def test_an_entry_queued_in_a_rolled_back_transaction_leaves_nothing(
    make_ctx: Callable[[str], ServiceContext],
) -> None:
    ctx = make_ctx("loans")

    def failing_use_case() -> None:
        with ctx.db.unit_of_work() as session:
            append_audit(
                session,
                ctx.tables,
                ctx.keyring,
                actor="admin:k1",
                action="loan.approved",
                subject="loan:1",
                payload={},
                now=ctx.clock.now(),
            )
            raise RuntimeError("the use case failed after recording")

    with pytest.raises(RuntimeError):
        failing_use_case()
    assert count_rows(ctx, ctx.tables.audit_log) == 0
    append(ctx, "loan:2")  # the next transaction writes its own entry only
    assert [(r["subject"], r["chain_seq"]) for r in rows(ctx, 4)] == [("loan:2", 1)]
    assert count_rows(ctx, ctx.tables.audit_log) == 1


def test_nothing_is_written_before_the_commit(make_ctx: Callable[[str], ServiceContext]) -> None:
    ctx = make_ctx("loans")
    with ctx.db.unit_of_work() as session:
        append_audit(
            session,
            ctx.tables,
            ctx.keyring,
            actor="admin:k1",
            action="loan.approved",
            subject="loan:1",
            payload={},
            now=ctx.clock.now(),
        )
        t = ctx.tables.audit_log
        assert session.execute(select(func.count()).select_from(t)).scalar_one() == 0
    assert count_rows(ctx, ctx.tables.audit_log) == 1


def test_an_entry_recorded_by_a_commit_tail_step_is_written_in_the_same_commit(
    make_ctx: Callable[[str], ServiceContext],
) -> None:
    ctx = make_ctx("loans")
    with ctx.db.unit_of_work() as session:
        record_change(
            session, ctx, actor="admin:k1", action="loan.a", subject="loan:1", payload={}, event=False
        )
        at_commit(
            session,
            lambda: record_change(
                session, ctx, actor="admin:k1", action="loan.b", subject="loan:2", payload={}, event=False
            ),
        )
        record_change(
            session, ctx, actor="admin:k1", action="loan.c", subject="loan:1", payload={}, event=False
        )
    with ctx.db.unit_of_work(read_only=True) as session:
        written = [(e["action"], e["chain"], e["chain_seq"]) for e in audit_entries(session, ctx.tables)]
    assert written == [("loan.a", 12, 1), ("loan.c", 12, 2), ("loan.b", 4, 1)]
    assert report(ctx)["ok"]


# ---------------------------------------------------------------- tampering, per chain


@pytest.mark.parametrize("chain", [12, 7])
def test_an_edited_payload_is_found(ctx: ServiceContext, chain: int) -> None:
    change(ctx, chain, 2, payload='{"step":9}')
    found = report(ctx)
    assert (found["first_broken_chain"], found["first_broken_chain_seq"]) == (chain, 2)
    assert found["first_broken_seq"] == rows(ctx, chain)[1]["seq"] and "edited" in found["reason"]


@pytest.mark.parametrize("chain", [4, 7])
def test_an_edited_and_rehashed_payload_is_found(ctx: ServiceContext, chain: int) -> None:
    from shared.crypto import sha256_hex

    forged = '{"step":9}'
    change(ctx, chain, 3, payload=forged, payload_hash=sha256_hex(forged))
    assert broken_at(ctx) == (chain, 3)


@pytest.mark.parametrize(
    ("column", "value"),
    [("actor", "admin:someone-else"), ("subject", "loan:999"), ("seq", 999), ("chain", 5)],
)
def test_an_edited_column_is_found(ctx: ServiceContext, column: str, value: object) -> None:
    change(ctx, 7, 4, **{column: value})
    assert broken_at(ctx)[0] in (5, 7)  # moved to chain 5, the entry is foreign there; else missing in 7
    found = report(ctx)
    assert "edited" in found["reason"] or "missing" in found["reason"], found


def test_an_entry_moved_to_another_chain_is_found_in_both(ctx: ServiceContext) -> None:
    (last,) = [r for r in rows(ctx, 4) if r["chain_seq"] == 3]
    change(ctx, 7, 1, chain_seq=4, chain=4, prev_hash=last["entry_hash"])  # appended to chain 4
    assert broken_at(ctx) == (4, 4)  # chain is in the hashed material
    change(ctx, 4, 4, chain_seq=1, chain=7, prev_hash="0" * 64)
    assert report(ctx)["ok"]


@pytest.mark.parametrize("chain", [12, 7])
def test_a_deleted_entry_is_found(ctx: ServiceContext, chain: int) -> None:
    remove(ctx, chain, from_seq=2)
    found = report(ctx)
    assert (found["first_broken_chain"], found["first_broken_chain_seq"]) == (chain, 2)
    assert found["first_broken_seq"] is None and "missing" in found["reason"]


@pytest.mark.parametrize("chain", [4, 7])
def test_a_deleted_first_entry_is_found(ctx: ServiceContext, chain: int) -> None:
    remove(ctx, chain, from_seq=1)
    assert broken_at(ctx) == (chain, 1)


@pytest.mark.parametrize("chain", [12, 7])
def test_reordered_entries_are_found(ctx: ServiceContext, chain: int) -> None:
    second, third = rows(ctx, chain)[1:3]
    t = ctx.tables.audit_log
    with ctx.db.unit_of_work() as session:
        for row, other in ((second, third), (third, second)):
            values = {k: v for k, v in other.items() if k not in ("seq", "chain_seq")}
            session.execute(update(t).where(t.c.seq == row["seq"]).values(**values))
    assert broken_at(ctx) == (chain, 2)


@pytest.mark.parametrize("chain", [4, 7])
def test_an_entry_relinked_after_a_deletion_fails_its_signature(ctx: ServiceContext, chain: int) -> None:
    from shared.audit import _entry_material
    from shared.crypto import sha256_hex

    first, second = rows(ctx, chain)[:2]
    remove(ctx, chain, from_seq=2)
    third = rows(ctx, chain)[1]
    forged = {**third, "chain_seq": 2, "prev_hash": first["entry_hash"]}
    forged["entry_hash"] = sha256_hex(_entry_material(forged))  # consistent hashes, old signature
    change(ctx, chain, 3, chain_seq=2, prev_hash=first["entry_hash"], entry_hash=forged["entry_hash"])
    found = report(ctx)
    assert (found["first_broken_chain"], found["first_broken_chain_seq"]) == (chain, 2), found
    assert found["reason"] == "signature does not verify" and second["seq"] != found["first_broken_seq"]


# ---------------------------------------------------------------- anchors


def anchor(ctx: ServiceContext) -> int:
    return anchor_chains(ctx.db, ctx.tables, ctx.keyring, now=ctx.clock.now(), actor="system:test")


def test_an_anchor_records_every_partition_head_once(ctx: ServiceContext) -> None:
    assert anchor(ctx) == 1
    assert anchor(ctx) == 0  # nothing moved: no second anchor
    (entry,) = rows(ctx, SERVICE_CHAIN)
    assert (entry["action"], entry["chain_seq"], entry["seq"]) == (ANCHOR_ACTION, 1, 13)
    heads = {c: (r[-1]["chain_seq"], r[-1]["entry_hash"]) for c in (4, 7, 12) for r in [rows(ctx, c)]}
    with ctx.db.unit_of_work(read_only=True) as session:
        (recorded,) = audit_entries(session, ctx.tables, subject="audit:chains")
    assert recorded["payload"] == {
        "heads": {str(c): {"chain_seq": n, "entry_hash": h} for c, (n, h) in heads.items()}
    }
    found = report(ctx)
    assert found["ok"] and found["anchors"] == 1 and found["unanchored_entries"] == 0, found
    assert found["head"] == f"1:{entry['entry_hash']}"
    append(ctx, "loan:2")
    assert report(ctx)["unanchored_entries"] == 1
    assert anchor(ctx) == 1 and rows(ctx, SERVICE_CHAIN)[-1]["chain_seq"] == 2
    assert report(ctx)["ok"]


@pytest.mark.parametrize("chain", [12, 7])
def test_an_anchor_finds_a_truncated_partition(ctx: ServiceContext, chain: int) -> None:
    anchor(ctx)
    remove(ctx, chain, from_seq=rows(ctx, chain)[-1]["chain_seq"])
    found = report(ctx)
    last = len(rows(ctx, chain))
    assert (found["first_broken_chain"], found["first_broken_chain_seq"]) == (chain, last + 1)
    assert "truncated" in found["reason"] and f"chain {chain} ends at {last}" in found["reason"]


def test_an_anchor_finds_a_partition_deleted_entirely(ctx: ServiceContext) -> None:
    anchor(ctx)
    for chain in (4, 12):
        remove(ctx, chain, from_seq=1, to_seq=10)
    assert broken_at(ctx) == (4, 1)
    append(ctx, "loan:2")  # a new chain 4 does not stand in for the anchored one
    assert broken_at(ctx)[0] == 4


def test_an_anchor_finds_a_rewritten_partition(ctx: ServiceContext) -> None:
    anchor(ctx)
    remove(ctx, 12, from_seq=3)
    append(ctx, "loan:1", forged=True)  # re-signed with our own key: only the anchor shows it
    found = report(ctx)
    assert (found["first_broken_chain"], found["first_broken_chain_seq"]) == (12, 3)
    assert found["reason"] == "entry differs from the recorded head"


def test_entries_after_the_last_anchor_may_still_be_appended(ctx: ServiceContext) -> None:
    anchor(ctx)
    append(ctx, "loan:5", 2)
    append(ctx, "loan:3")  # a chain the anchor did not know
    assert report(ctx)["ok"] and report(ctx)["unanchored_entries"] == 3


def test_a_deleted_anchor_is_found(ctx: ServiceContext) -> None:
    anchor(ctx)
    append(ctx, "loan:1")
    anchor(ctx)
    remove(ctx, SERVICE_CHAIN, from_seq=1)
    assert broken_at(ctx) == (SERVICE_CHAIN, 1)


def test_a_truncated_chain_0_is_found_against_a_recorded_head(ctx: ServiceContext) -> None:
    anchor(ctx)
    append(ctx, "loan:1")
    anchor(ctx)
    head = report(ctx)["head"]
    assert head.startswith("2:") and report(ctx, head)["ok"]
    remove(ctx, SERVICE_CHAIN, from_seq=2)
    assert report(ctx)["ok"]  # the older anchor is still met: only the recorded head shows the loss
    found = report(ctx, head)
    assert (found["first_broken_chain"], found["first_broken_chain_seq"]) == (0, 2)
    assert "truncated" in found["reason"]


def test_a_rewritten_chain_0_is_found_against_a_recorded_head(ctx: ServiceContext) -> None:
    anchor(ctx)
    head = report(ctx)["head"]
    remove(ctx, SERVICE_CHAIN, from_seq=1)
    append(ctx, "loan:1")
    anchor(ctx)  # a new anchor 1, re-signed with our key
    assert report(ctx)["ok"]
    assert broken_at(ctx, head) == (0, 1)


@pytest.mark.parametrize("service", ["scoring", "escrow", "loans", "console"])
def test_every_service_anchors_and_verifies_its_chains(
    make_ctx: Callable[[str], ServiceContext], service: str
) -> None:
    ctx = make_ctx(service)
    append(ctx, "thing:1", 2)
    append(ctx, "thing:2")
    assert anchor(ctx) == 1
    found = report(ctx)
    assert found["ok"] and (found["entries"], found["anchors"]) == (4, 1), found
