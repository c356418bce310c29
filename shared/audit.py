"""Append-only, hash-chained, signed audit trail: partition chains anchored into a service chain.

Every entry belongs to one chain (``chain``) at one position in it (``chain_seq``, 1, 2, …)
and carries the hash of its canonical payload, the hash of its predecessor in that chain
(``GENESIS`` for the first), its own hash over its material and an Ed25519 signature of
that hash. ``seq`` is the service-wide order of entries (a PostgreSQL sequence, SQLite's
rowid): it is hashed too, but no chain link depends on it, so it may have gaps.

- Chains ``1..P`` (``chains``, default ``DEFAULT_CHAINS``) hold the entries of use cases; an
  entry's chain is a stable hash of its subject (``chain_for``), so one subject's history is
  one ordered sub-chain. Their material is ``{chain, chain_seq, seq, created_at, actor,
  action, subject, payload_hash, prev_hash}``.
- Chain 0 is the service-wide chain: every entry written before partitioning (there
  ``chain_seq == seq``) and the **anchors** (``anchor_chains``, a worker job), each recording
  every partition chain's head (``chain_seq``, ``entry_hash``). Its material keeps the
  original format ``{seq, created_at, actor, action, subject, payload_hash, prev_hash}``, so
  the entries written before partitioning verify unchanged.

Appending is queued on the transaction's commit tail (``shared.commit_tail``, phase
``AUDIT``): ``append_audit`` only records the entry; as the transaction's last statements the
tail takes the advisory lock of each chain the transaction writes (PostgreSQL, ascending
chain order, so two transactions never wait on each other in a cycle; SQLite has one writer
anyway), reads those chains' heads, numbers and inserts the entries. Transactions that write
different chains never wait for each other; a rolled-back transaction writes nothing.

``verify_chain`` walks every chain and names the first entry that was edited (hash or
signature mismatch), deleted (a gap in ``chain_seq`` or a broken link) or reordered, and
checks the newest anchor: each head it recorded must still be in its chain with that hash,
so truncating or rewriting a partition chain up to the last anchor is found too. Only the
newest entries of chain 0 itself need a head recorded elsewhere (``expect_head``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Insert,
    RowMapping,
    Select,
    Table,
    bindparam,
    func,
    literal,
    literal_column,
    null,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session

from shared.clock import utc_iso
from shared.commit_tail import Phase, at_commit, tail_state
from shared.crypto import Keyring, canonical_json, sha256_hex
from shared.db import Database
from shared.platform_tables import AUDIT_SEQ_SEQUENCE, PlatformTables

GENESIS = "0" * 64
SERVICE_CHAIN = 0
"""The service-wide chain: entries from before partitioning, and the anchors."""
DEFAULT_CHAINS = 16
"""How many partition chains (``1..P``) new entries are spread over."""
ANCHOR_ACTION = "audit.anchor"
ANCHOR_SUBJECT = "audit:chains"
_PG_LOCK_SPACE = 0x61_75_64_69  # "audi": pg_advisory_xact_lock(space, chain), one lock per chain
_TAIL_KEY = "shared.audit.pending"


def chain_for(subject: str, chains: int = DEFAULT_CHAINS) -> int:
    """The partition chain (``1..chains``) of a subject: stable across processes and releases."""
    if chains < 1:
        raise ValueError("an audit trail needs at least one partition chain")
    digest = sha256_hex(subject)
    return int(digest[:16], 16) % chains + 1


def _entry_material(row: Mapping[Any, Any]) -> str:
    material = {
        "seq": int(row["seq"]),
        "created_at": utc_iso(row["created_at"]),
        "actor": row["actor"],
        "action": row["action"],
        "subject": row["subject"],
        "payload_hash": row["payload_hash"],
        "prev_hash": row["prev_hash"],
    }
    if int(row["chain"]) != SERVICE_CHAIN:
        material |= {"chain": int(row["chain"]), "chain_seq": int(row["chain_seq"])}
    return canonical_json(material)


# ---------------------------------------------------------------- appending


@dataclass
class _Pending:
    """The entries a transaction has queued and not yet written."""

    tables: PlatformTables
    keyring: Keyring
    entries: list[dict[str, Any]] = field(default_factory=list)
    scheduled: bool = False


def append_audit(
    session: Session,
    tables: PlatformTables,
    keyring: Keyring,
    *,
    actor: str,
    action: str,
    subject: str,
    payload: dict[str, Any],
    now: datetime,
    chains: int = DEFAULT_CHAINS,
    chain: int | None = None,
) -> None:
    """Queue one entry on the transaction's commit tail: it is written if and only if the
    transaction commits, numbered then (no sequence number exists before the commit).

    ``chain`` overrides the subject's partition (``SERVICE_CHAIN`` for anchors).
    """
    payload_json = canonical_json(payload)  # now: a payload that cannot be recorded fails its request
    pending, _ = tail_state(session, _TAIL_KEY, lambda: _Pending(tables, keyring))
    pending.entries.append(
        {
            "chain": chain_for(subject, chains) if chain is None else chain,
            "created_at": now,
            "actor": actor,
            "action": action,
            "subject": subject,
            "payload": payload_json,
            "payload_hash": sha256_hex(payload_json),
        }
    )
    if not pending.scheduled:  # once per round of the tail (a step may append while it runs)
        pending.scheduled = True
        at_commit(session, lambda: _write_pending(session, pending), phase=Phase.AUDIT)


def _write_pending(session: Session, pending: _Pending) -> None:
    entries, pending.entries, pending.scheduled = pending.entries, [], False
    if not entries:
        return
    t = pending.tables.audit_log
    postgres = session.get_bind().dialect.name == "postgresql"
    chains = sorted({int(e["chain"]) for e in entries})
    if postgres:
        for chain in chains:  # ascending: every transaction takes chain locks in one order
            session.execute(_CHAIN_LOCK, {"space": _PG_LOCK_SPACE, "chain": chain})
    # READ COMMITTED (the default): read after the locks, the heads include every append
    # committed before this transaction got them
    heads, seqs = _heads_and_seqs(session, t, chains, len(entries), postgres=postgres)
    for entry, seq in zip(entries, seqs, strict=True):
        chain_seq, prev_hash = heads.get(entry["chain"], (0, GENESIS))
        entry |= {"seq": seq, "chain_seq": chain_seq + 1, "prev_hash": prev_hash}
        entry["entry_hash"] = sha256_hex(_entry_material(entry))
        entry["key_id"], entry["signature"] = pending.keyring.sign(entry["entry_hash"])
        heads[entry["chain"]] = (entry["chain_seq"], entry["entry_hash"])
    session.execute(_insert(t), entries)


# A statement is built once per table (and backend) and executed with parameters: building one
# costs several times what executing it does, and its SQL is then a compile-cache hit.
_CHAIN_LOCK = text("SELECT pg_advisory_xact_lock(:space, :chain)")


@cache
def _insert(t: Table) -> Insert:
    return t.insert()


def _newest(t: Table, chains: Iterable[int] | None) -> Select[tuple[Any, ...]]:
    """The newest entry of each of ``chains`` (None: of every partition chain)."""
    where = t.c.chain != SERVICE_CHAIN if chains is None else t.c.chain.in_(list(chains))
    return _newest_where(t, where)


def _newest_where(t: Table, where: ColumnElement[bool]) -> Select[tuple[Any, ...]]:
    newest = (
        select(t.c.chain, func.max(t.c.chain_seq).label("chain_seq"))
        .where(where)
        .group_by(t.c.chain)
        .subquery()
    )
    return select(literal("head").label("kind"), t.c.chain_seq, t.c.chain, t.c.entry_hash).join(
        newest, (t.c.chain == newest.c.chain) & (t.c.chain_seq == newest.c.chain_seq)
    )


def _heads(session: Session, t: Table, chains: Iterable[int] | None) -> dict[int, tuple[int, str]]:
    """chain -> (chain_seq, entry_hash) of each chain's newest entry; a chain without one is absent."""
    return {int(r.chain): (int(r.chain_seq), str(r.entry_hash)) for r in session.execute(_newest(t, chains))}


@cache
def _heads_and_seqs_statement(t: Table, postgres: bool) -> CompoundSelect[Any]:
    """The append's one read, with parameters ``chains`` (a list) and ``count`` (PostgreSQL)."""
    heads = _newest_where(t, t.c.chain.in_(bindparam("chains", expanding=True)))
    if postgres:  # no lock: the sequence hands out numbers to concurrent transactions
        series = func.generate_series(1, bindparam("count")).table_valued("i")
        number = func.nextval(literal_column(f"'{AUDIT_SEQ_SEQUENCE}'"))
        seqs = select(literal("seq"), number, null(), null()).select_from(series)
    else:  # SQLite: this transaction is the only writer (BEGIN IMMEDIATE); the next rowids follow
        seqs = select(literal("seq"), func.coalesce(func.max(t.c.seq), 0), null(), null())
    return union_all(heads, seqs)


def _heads_and_seqs(
    session: Session, t: Table, chains: Iterable[int], count: int, *, postgres: bool
) -> tuple[dict[int, tuple[int, str]], list[int]]:
    """The chains' heads and ``count`` new ``seq`` numbers, in one statement."""
    params: dict[str, Any] = {"chains": list(chains)}
    if postgres:
        params["count"] = count
    heads: dict[int, tuple[int, str]] = {}
    numbers: list[int] = []
    for kind, n, chain, entry_hash in session.execute(_heads_and_seqs_statement(t, postgres), params):
        if kind == "head":
            heads[int(chain)] = (int(n), str(entry_hash))
        else:
            numbers.append(int(n))
    if not postgres:
        numbers = list(range(numbers[0] + 1, numbers[0] + 1 + count))
    return heads, sorted(numbers)


# ---------------------------------------------------------------- anchoring


def partition_heads(session: Session, tables: PlatformTables) -> dict[int, tuple[int, str]]:
    """Every partition chain's head: chain -> (chain_seq, entry_hash)."""
    return _heads(session, tables.audit_log, None)


def _last_anchor(session: Session, t: Table) -> dict[int, tuple[int, str]] | None:
    row = session.execute(
        select(t.c.payload)
        .where(t.c.chain == SERVICE_CHAIN, t.c.action == ANCHOR_ACTION)
        .order_by(t.c.chain_seq.desc())
        .limit(1)
    ).first()
    return None if row is None else _anchored_heads(str(row.payload))


def _anchored_heads(payload: str) -> dict[int, tuple[int, str]]:
    heads = json.loads(payload)["heads"]
    return {int(chain): (int(head["chain_seq"]), str(head["entry_hash"])) for chain, head in heads.items()}


def anchor_chains(
    db: Database, tables: PlatformTables, keyring: Keyring, *, now: datetime, actor: str
) -> int:
    """Record every partition chain's head in an anchor entry of chain 0 (a worker job).

    Returns 1 when it wrote an anchor, 0 when no chain moved since the last one. Replicas may
    run it at once: chain 0's lock is taken first, so they never write the same anchor twice.
    """
    with db.unit_of_work() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(_CHAIN_LOCK, {"space": _PG_LOCK_SPACE, "chain": SERVICE_CHAIN})
        heads = partition_heads(session, tables)
        if not heads or heads == _last_anchor(session, tables.audit_log):
            return 0
        payload = {
            "heads": {str(c): {"chain_seq": n, "entry_hash": h} for c, (n, h) in sorted(heads.items())}
        }
        append_audit(
            session,
            tables,
            keyring,
            actor=actor,
            action=ANCHOR_ACTION,
            subject=ANCHOR_SUBJECT,
            payload=payload,
            now=now,
            chain=SERVICE_CHAIN,
        )
    return 1


# ---------------------------------------------------------------- verifying


@dataclass(frozen=True)
class ChainReport:
    """Result of verifying a service's chains.

    A break is named by its position (``first_broken_chain``, ``first_broken_chain_seq``)
    and, when the entry there exists, its ``first_broken_seq``. ``head_*`` is chain 0's head.
    """

    ok: bool
    entries: int
    first_broken_seq: int | None = None
    reason: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS
    first_broken_chain: int | None = None
    first_broken_chain_seq: int | None = None
    chains: int = 0
    anchors: int = 0
    unanchored: int = 0
    """Partition entries newer than the last anchor (only a later anchor protects them)."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form; record ``head`` to detect a later truncation of chain 0."""
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_broken_seq": self.first_broken_seq,
            "first_broken_chain": self.first_broken_chain,
            "first_broken_chain_seq": self.first_broken_chain_seq,
            "reason": self.reason,
            "head": f"{self.head_seq}:{self.head_hash}",
            "chains": self.chains,
            "anchors": self.anchors,
            "unanchored_entries": self.unanchored,
        }


class _Break(Exception):
    def __init__(self, chain: int, chain_seq: int, seq: int | None, reason: str) -> None:
        super().__init__(reason)
        self.chain, self.chain_seq, self.seq, self.reason = chain, chain_seq, seq, reason


@dataclass
class _Walk:
    """Verification state: the chain being walked and what the anchors and ``expect_head`` claim."""

    keyring: Keyring
    expect_head: tuple[int, str] | None
    count: int = 0
    chain: int = SERVICE_CHAIN
    next_chain_seq: int = 1
    prev_hash: str = GENESIS
    service_head: tuple[int, str] = (0, GENESIS)
    anchored: dict[int, tuple[int, str]] = field(default_factory=dict)
    anchor_at: int = 0
    anchors: int = 0
    chains: int = 0
    unanchored: int = 0

    def entry(self, row: RowMapping) -> None:
        chain, chain_seq, seq = int(row["chain"]), int(row["chain_seq"]), int(row["seq"])
        if chain != self.chain:
            self.end_chain()
            for empty in sorted(c for c in self.anchored if self.chain < c < chain):
                self.anchored_up_to(empty, 0)  # an anchored chain with no entry left at all
            self.chain, self.next_chain_seq, self.prev_hash = chain, 1, GENESIS
        self.count += 1
        if chain_seq != self.next_chain_seq:
            missing = self.next_chain_seq
            raise _Break(chain, missing, None, f"entry {missing} of chain {chain} is missing")
        if sha256_hex(row["payload"]) != row["payload_hash"]:
            raise _Break(chain, chain_seq, seq, "payload does not match its hash (edited)")
        if sha256_hex(_entry_material(row)) != row["entry_hash"]:
            raise _Break(chain, chain_seq, seq, "entry does not match its hash (edited)")
        if row["prev_hash"] != self.prev_hash:
            raise _Break(
                chain, chain_seq, seq, "entry does not link to its predecessor (deleted or reordered)"
            )
        if not self.keyring.verify(row["key_id"], row["entry_hash"], row["signature"]):
            raise _Break(chain, chain_seq, seq, "signature does not verify")
        claim = self.expect_head if chain == SERVICE_CHAIN else self.anchored.get(chain)
        if claim is not None and claim[0] == chain_seq and claim[1] != row["entry_hash"]:
            raise _Break(chain, chain_seq, seq, "entry differs from the recorded head")
        if chain != SERVICE_CHAIN and (claim is None or chain_seq > claim[0]):
            self.unanchored += 1
        if chain == SERVICE_CHAIN and row["action"] == ANCHOR_ACTION:
            try:
                self.anchored = _anchored_heads(row["payload"])
            except (ValueError, KeyError, TypeError, AttributeError):
                raise _Break(chain, chain_seq, seq, "anchor does not record chain heads") from None
            self.anchor_at, self.anchors = chain_seq, self.anchors + 1
        self.next_chain_seq, self.prev_hash = chain_seq + 1, row["entry_hash"]

    def end_chain(self) -> None:
        """The chain just walked must reach the head recorded for it (anchor or ``expect_head``)."""
        last = self.next_chain_seq - 1
        if self.chain == SERVICE_CHAIN:
            self.service_head = (last, self.prev_hash)
            if self.expect_head is not None and self.expect_head[0] > last:
                reason = f"chain ends at {last}; the recorded head {self.expect_head[0]} is gone (truncated)"
                raise _Break(SERVICE_CHAIN, last + 1, None, reason)
            return
        self.chains += 1
        self.anchored_up_to(self.chain, last)

    def anchored_up_to(self, chain: int, last: int) -> None:
        """Partition ``chain`` ends at ``last``: it must reach the head the newest anchor recorded."""
        claim = self.anchored.get(chain)
        if claim is not None and claim[0] > last:
            reason = (
                f"chain {chain} ends at {last}; the head {claim[0]} recorded by anchor "
                f"{self.anchor_at} of chain 0 is gone (truncated)"
            )
            raise _Break(chain, last + 1, None, reason)

    def finish(self) -> None:
        """Close the last chain walked, then every anchored chain after it (none of it is left)."""
        self.end_chain()
        for empty in sorted(c for c in self.anchored if c > self.chain):
            self.anchored_up_to(empty, 0)


def _expected(expect_head: str | None) -> tuple[int, str] | None:
    if expect_head is None:
        return None
    number, _, digest = expect_head.partition(":")
    return (int(number), digest) if number.isdigit() else None


def verify_chain(
    session: Session, tables: PlatformTables, keyring: Keyring, *, expect_head: str | None = None
) -> ChainReport:
    """Walk every chain (chain 0 first, then 1..P); report the first broken entry, if any.

    A chain whose newest entries were deleted is still internally consistent: for a partition
    chain the newest anchor shows it; for chain 0 only a head kept elsewhere does —
    ``expect_head`` (``"<chain_seq>:<entry_hash>"`` of chain 0, from an earlier report).
    """
    t = tables.audit_log
    walk = _Walk(keyring, _expected(expect_head))
    query = select(t).order_by(t.c.chain, t.c.chain_seq).execution_options(yield_per=1000)
    result = session.execute(query).mappings()
    try:
        for row in result:
            walk.entry(row)
        walk.finish()
    except _Break as found:
        return ChainReport(
            False,
            walk.count,
            found.seq,
            found.reason,
            first_broken_chain=found.chain,
            first_broken_chain_seq=found.chain_seq,
        )
    finally:
        result.close()  # a break leaves the server-side cursor (PostgreSQL) mid-way
    head_seq, head_hash = walk.service_head
    return ChainReport(
        True,
        walk.count,
        head_seq=head_seq,
        head_hash=head_hash,
        chains=walk.chains,
        anchors=walk.anchors,
        unanchored=walk.unanchored,
    )


def audit_entries(
    session: Session,
    tables: PlatformTables,
    *,
    subject: str | None = None,
    limit: int = 100,
    after_seq: int = 0,
) -> list[dict[str, Any]]:
    """Entries in service order (``seq``), with their chain and ``chain_seq``, for auditors."""
    t = tables.audit_log
    query = select(t).where(t.c.seq > after_seq).order_by(t.c.seq).limit(limit)
    if subject is not None:
        query = query.where(t.c.subject == subject)
    out = []
    for row in session.execute(query).mappings():
        item = dict(row)
        item["payload"] = json.loads(item["payload"])
        item["created_at"] = utc_iso(item["created_at"])
        out.append(item)
    return out
