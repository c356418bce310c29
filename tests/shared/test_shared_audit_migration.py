"""The audit-chains revision (loans 0013; scoring, escrow 0010; console 0002): entries written
before it become chain 0 and verify unchanged, ``seq`` numbering continues after them, and a
downgrade refuses to drop partition entries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import BigInteger, Column, DateTime, MetaData, Table, Text, insert, update

from services.registry import definition
from shared.audit import GENESIS, anchor_chains, append_audit, verify_chain
from shared.clock import utc_iso
from shared.crypto import canonical_json, sha256_hex
from shared.migrate import alembic_config, at_head
from shared.platform import ServiceContext

BEFORE = {"loans": "0012", "scoring": "0009", "escrow": "0009", "console": "0001"}


def _legacy_table() -> Table:
    """``audit_log`` as the revision before found it (no chain columns)."""
    names = ("actor", "action", "subject", "payload", "payload_hash", "prev_hash", "entry_hash", "key_id")
    return Table(
        "audit_log",
        MetaData(),
        Column("seq", BigInteger, primary_key=True),
        Column("created_at", DateTime(timezone=True)),
        *(Column(name, Text) for name in (*names, "signature")),
    )


def _write_legacy_entries(ctx: ServiceContext, count: int) -> list[str]:
    """Entries exactly as the single-chain code wrote them; return their hashes."""
    prev, hashes = GENESIS, []
    with ctx.db.engine.begin() as conn:
        for seq in range(1, count + 1):
            ctx.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
            payload = canonical_json({"amount_minor": 100 * seq})
            fields = {
                "seq": seq,
                "created_at": utc_iso(ctx.clock.now()),
                "actor": "admin:k1",
                "action": "loan.approved",
                "subject": f"loan:{seq}",
                "payload_hash": sha256_hex(payload),
                "prev_hash": prev,
            }
            entry_hash = sha256_hex(canonical_json(fields))
            key_id, signature = ctx.keyring.sign(entry_hash)
            conn.execute(
                insert(_legacy_table()).values(
                    **{**fields, "created_at": ctx.clock.now()},
                    payload=payload,
                    entry_hash=entry_hash,
                    key_id=key_id,
                    signature=signature,
                )
            )
            prev = entry_hash
            hashes.append(entry_hash)
    return hashes


@pytest.fixture
def migrated(make_ctx: Callable[[str], ServiceContext]) -> Iterator[Callable[[str], ServiceContext]]:
    """A service's context moved back to the revision before the chains; always back at head after."""
    moved: list[ServiceContext] = []

    def back(service: str) -> ServiceContext:
        ctx = make_ctx(service)
        ctx.db.engine.dispose()
        command.downgrade(alembic_config(definition(service), ctx.settings.database_url), BEFORE[service])
        moved.append(ctx)
        return ctx

    yield back
    for ctx in moved:
        ctx.db.engine.dispose()
        command.upgrade(alembic_config(ctx.definition, ctx.settings.database_url), "head")


def _upgrade(ctx: ServiceContext) -> None:
    ctx.db.engine.dispose()
    command.upgrade(alembic_config(ctx.definition, ctx.settings.database_url), "head")
    with ctx.db.engine.connect() as conn:
        assert at_head(conn, ctx.definition)


@pytest.mark.parametrize("service", ["loans", "scoring", "escrow", "console"])
def test_legacy_entries_become_chain_0_and_verify_unchanged(
    migrated: Callable[[str], ServiceContext], service: str
) -> None:
    ctx = migrated(service)
    hashes = _write_legacy_entries(ctx, 4)
    recorded_head = f"4:{hashes[-1]}"  # as the single-chain verify printed it
    _upgrade(ctx)
    with ctx.db.unit_of_work(read_only=True) as session:
        found = verify_chain(session, ctx.tables, ctx.keyring, expect_head=recorded_head).as_dict()
    assert found["ok"] and found["entries"] == 4 and found["head"] == recorded_head, found

    with ctx.db.unit_of_work() as session:  # new entries: numbered after the old ones, in partitions
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
    assert anchor_chains(ctx.db, ctx.tables, ctx.keyring, now=ctx.clock.now(), actor="system:test") == 1
    t = ctx.tables.audit_log
    with ctx.db.unit_of_work(read_only=True) as session:
        placed = [(r.seq, r.chain, r.chain_seq) for r in session.execute(t.select().order_by(t.c.seq))]
        found = verify_chain(session, ctx.tables, ctx.keyring, expect_head=recorded_head).as_dict()
    assert placed == [(1, 0, 1), (2, 0, 2), (3, 0, 3), (4, 0, 4), (5, 12, 1), (6, 0, 5)]
    assert found["ok"] and found["head"].startswith("5:"), found

    with ctx.db.unit_of_work() as session:
        session.execute(update(t).where(t.c.seq == 2).values(payload='{"amount_minor":1}'))
    with ctx.db.unit_of_work(read_only=True) as session:
        broken = verify_chain(session, ctx.tables, ctx.keyring).as_dict()
    assert (broken["first_broken_chain"], broken["first_broken_chain_seq"], broken["first_broken_seq"]) == (
        0,
        2,
        2,
    )


def test_a_downgrade_keeps_legacy_entries_and_refuses_to_drop_partition_entries(
    migrated: Callable[[str], ServiceContext],
) -> None:
    ctx = migrated("loans")
    _write_legacy_entries(ctx, 2)
    _upgrade(ctx)
    config = alembic_config(ctx.definition, ctx.settings.database_url)
    ctx.db.engine.dispose()
    command.downgrade(config, "0012")  # only chain 0: the old single chain, as it was
    with ctx.db.engine.connect() as conn:
        assert [r.seq for r in conn.execute(_legacy_table().select())] == [1, 2]
    _upgrade(ctx)
    with ctx.db.unit_of_work() as session:
        append_audit(
            session,
            ctx.tables,
            ctx.keyring,
            actor="admin:k1",
            action="loan.approved",
            subject="loan:9",
            payload={},
            now=ctx.clock.now(),
        )
    with ctx.db.engine.connect() as conn:  # our connection: the refusal leaves no engine behind
        config.attributes["connection"] = conn
        with pytest.raises(RuntimeError, match="1 entries of partition chains"):
            command.downgrade(config, "0012")
    with ctx.db.engine.connect() as conn:
        assert at_head(conn, ctx.definition)
