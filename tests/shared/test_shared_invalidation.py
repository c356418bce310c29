"""Per-process caches with cross-process invalidation (``shared.invalidation``, issue #13).

A second ``Database`` on the same URL is another process's (or replica's) view: it shares
nothing in memory with the first, so what it sees travels through the epoch file (SQLite) or
LISTEN/NOTIFY (PostgreSQL). On PostgreSQL a notification arrives a moment after the commit,
so those tests wait for it (``wait_moved``), with a generous bound; they never time anything.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from services.escrow.app import create_app as escrow_app
from services.escrow.definition import SERVICE
from services.escrow.settings import EscrowContext
from shared.auth import API_KEYS_TOPIC, Role, hash_api_key, revoke_api_key_hash
from shared.db import Database
from shared.invalidation import Invalidation, VersionedCache, bump, check_topic, invalidation_for
from shared.platform import ServiceContext
from tests.support import assert_problem, auth, free_port, issue_key

TOPIC = "test.things"
WAIT_S = 30.0
"""How long a test waits for a notification that must come (it comes in milliseconds)."""


class Loads:
    """A loader that counts its calls and returns the count."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


@pytest.fixture
def ctx(make_ctx: Callable[[str], ServiceContext]) -> EscrowContext:
    return cast(EscrowContext, make_ctx("escrow"))


@pytest.fixture
def other_db(ctx: EscrowContext) -> Iterator[Database]:
    """Another process's view of the test's database: its own engine, its own Invalidation."""
    db = Database(ctx.db.url, pool_size=2)
    yield db
    db.dispose()


def connected(invalidation: Invalidation) -> Invalidation:
    """``invalidation`` with its listener up (PostgreSQL), so that versions hold between calls."""
    assert invalidation.wait_connected(WAIT_S)
    return invalidation


def test_a_bump_reaches_another_database_after_commit_and_not_before(
    ctx: EscrowContext, other_db: Database
) -> None:
    theirs = connected(invalidation_for(other_db))
    cache: VersionedCache[str, int] = VersionedCache(theirs, TOPIC)
    load = Loads()
    assert cache.get("k", load) == 1
    assert cache.get("k", load) == 1  # a hit
    since = theirs.version(TOPIC)
    with ctx.db.unit_of_work() as session:
        bump(session, TOPIC)
        assert theirs.version(TOPIC) == since  # not before the commit
        assert cache.get("k", load) == 1
    assert theirs.wait_moved(TOPIC, since, WAIT_S)
    assert cache.get("k", load) == 2
    assert cache.get("k", load) == 2


def test_a_rolled_back_bump_moves_nothing(ctx: EscrowContext, other_db: Database) -> None:
    theirs = connected(invalidation_for(other_db))
    cache: VersionedCache[str, int] = VersionedCache(theirs, TOPIC)
    load = Loads()
    cache.get("k", load)
    since, sentinel = theirs.version(TOPIC), theirs.version("test.sentinel")

    def bump_and_fail() -> None:
        with ctx.db.unit_of_work() as session:
            bump(session, TOPIC)
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        bump_and_fail()
    # a later committed bump of another topic arrives after anything the rollback could have sent
    with ctx.db.unit_of_work() as session:
        bump(session, "test.sentinel")
    assert theirs.wait_moved("test.sentinel", sentinel, WAIT_S)
    assert theirs.version(TOPIC) == since
    assert cache.get("k", load) == 1 and load.calls == 1


def test_the_bumping_process_sees_its_own_bump_at_commit(ctx: EscrowContext) -> None:
    ours = connected(ctx.invalidation)
    cache: VersionedCache[str, int] = ours.cache(TOPIC)
    load = Loads()
    assert cache.get("k", load) == 1 and cache.get("k", load) == 1
    with ctx.db.unit_of_work() as session:
        bump(session, TOPIC)
    assert cache.get("k", load) == 2  # no waiting: the commit moved this process's version


def test_a_loader_that_raises_caches_nothing(ctx: EscrowContext) -> None:
    cache: VersionedCache[str, int] = connected(ctx.invalidation).cache(TOPIC)
    calls = 0

    def refuse() -> int:
        nonlocal calls
        calls += 1
        raise LookupError("not there")

    for _ in range(2):
        with pytest.raises(LookupError):
            cache.get("k", refuse)
    assert calls == 2 and len(cache) == 0


def test_a_cache_keeps_its_most_recently_used_entries() -> None:
    db = Database("sqlite://")  # in memory: versions live in the process
    try:
        cache: VersionedCache[int, str] = VersionedCache(invalidation_for(db), TOPIC, max_entries=2)
        for key in (1, 2, 1, 3):  # 2 is the least recently used when 3 comes
            cache.get(key, lambda key=key: f"v{key}")  # type: ignore[misc]
        assert len(cache) == 2
        assert cache.get(1, lambda: "reloaded") == "v1"
        assert cache.get(2, lambda: "reloaded") == "reloaded"
        cache.clear()
        assert cache.get(1, lambda: "again") == "again"
    finally:
        db.dispose()


def test_a_topic_names_a_file_safely() -> None:
    assert check_topic("auth.api_keys") == "auth.api_keys"
    for bad in ("", "Auth", "../x", "a/b", "a b", "x" * 64):
        with pytest.raises(ValueError):
            check_topic(bad)


def test_sqlite_keeps_each_topics_epoch_in_a_file_beside_the_database(
    ctx: EscrowContext, other_db: Database, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("the epoch files are SQLite's")
    database = other_db.engine.url.database
    assert database is not None
    theirs = invalidation_for(other_db)
    before = theirs.version(TOPIC)
    with ctx.db.unit_of_work() as session:
        bump(session, TOPIC)
    with open(f"{database}.{TOPIC}.epoch") as fh:
        assert int(fh.read()) == theirs.version(TOPIC) != before


def test_a_removed_or_garbled_epoch_file_is_a_new_epoch(ctx: EscrowContext, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("the epoch files are SQLite's")
    ours = ctx.invalidation
    cache: VersionedCache[str, int] = ours.cache(TOPIC)
    load = Loads()
    assert cache.get("k", load) == 1 and cache.get("k", load) == 1
    path = f"{ctx.db.engine.url.database}.{TOPIC}.epoch"
    os.remove(path)
    assert cache.get("k", load) == 2 and cache.get("k", load) == 2
    with open(path, "w") as fh:
        fh.write("not a number")
    assert cache.get("k", load) == 3 and cache.get("k", load) == 3
    assert not [name for name in os.listdir(os.path.dirname(path)) if name.startswith(".")]  # no temp left


# ------------------------------------------------------------ PostgreSQL: the listener


@pytest.fixture
def listening(backend: str) -> None:
    """Skip on SQLite: the listener is PostgreSQL's (LISTEN/NOTIFY)."""
    if backend != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's: set AGRIFIN_TEST_POSTGRES_URL to run on PostgreSQL")


postgres = pytest.mark.usefixtures("listening")


@postgres
def test_while_the_listener_is_not_connected_nothing_is_served_from_a_cache() -> None:
    db = Database(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nobody", pool_size=1)
    invalidation = Invalidation(db, retry_delay=0.05)
    try:
        cache: VersionedCache[str, int] = VersionedCache(invalidation, TOPIC)
        load = Loads()
        assert [cache.get("k", load) for _ in range(3)] == [1, 2, 3]
        assert not invalidation.connected
        assert invalidation.version(TOPIC) != invalidation.version(TOPIC)
    finally:
        invalidation.close()
        db.dispose()


def _listener_pids(ctx: EscrowContext) -> list[int]:
    with ctx.db.engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = 'agrifin-invalidation'"
                )
            ).scalars()
        )


@postgres
def test_a_lost_listener_serves_nothing_stale_and_catches_up_when_it_reconnects(
    ctx: EscrowContext, other_db: Database
) -> None:
    theirs = Invalidation(other_db, retry_delay=3600)  # reconnects only when told to
    try:
        connected(theirs)
        cache: VersionedCache[str, int] = VersionedCache(theirs, TOPIC)
        quiet: VersionedCache[str, int] = VersionedCache(theirs, TOPIC)  # not read while down
        load, quiet_load = Loads(), Loads()
        assert cache.get("k", load) == 1 and cache.get("k", load) == 1
        assert quiet.get("k", quiet_load) == 1
        with ctx.db.engine.connect() as conn:
            for pid in _listener_pids(ctx):
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert theirs.wait_connected(WAIT_S, connected=False)
        assert cache.get("k", load) == 2 and cache.get("k", load) == 3  # no hits while down
        with ctx.db.unit_of_work() as session:  # sent while nobody listens: lost
            bump(session, TOPIC)
        theirs.reconnect()
        connected(theirs)
        assert quiet.get("k", quiet_load) == 2  # reconnecting moved every topic
        assert quiet.get("k", quiet_load) == 2
        assert cache.get("k", load) == 4 and cache.get("k", load) == 4
    finally:
        theirs.close()


@postgres
def test_a_listener_that_pings_an_idle_connection_still_hears_every_bump(
    ctx: EscrowContext, other_db: Database
) -> None:
    theirs = Invalidation(other_db, ping_interval=0.01)  # idle all the time: pings between bumps
    try:
        connected(theirs)
        for _ in range(3):
            since = theirs.version(TOPIC)
            with ctx.db.unit_of_work() as session:
                bump(session, TOPIC)
            assert theirs.wait_moved(TOPIC, since, WAIT_S)
            assert theirs.connected
    finally:
        theirs.close()


@postgres
def test_disposing_the_database_stops_its_listener(other_db: Database) -> None:
    def listeners() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name == "agrifin-invalidation"}

    invalidation = connected(invalidation_for(other_db))
    before = listeners()
    other_db.dispose()
    assert len(before - listeners()) == 1  # joined: gone from the running threads
    assert not invalidation.connected


# ------------------------------------------------------------ through the app: API keys


@pytest.fixture
def replica(ctx: EscrowContext) -> Iterator[EscrowContext]:
    """A second replica of the service: its own context (database handle, caches) on the same database."""
    second = ServiceContext.build(SERVICE, ctx.settings, clock=ctx.clock, keyring=ctx.keyring)
    yield second
    second.db.dispose()


class KeyLookups:
    """Counts the API-key look-ups an engine runs."""

    def __init__(self, ctx: EscrowContext) -> None:
        self.count = 0
        self.engine = ctx.db.engine
        event.listen(self.engine, "before_cursor_execute", self.seen)

    def seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM api_keys" in statement:
            self.count += 1

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self.seen)


def test_a_second_request_with_the_same_key_runs_no_key_lookup(
    ctx: EscrowContext, client_for: Callable[..., TestClient]
) -> None:
    connected(ctx.invalidation)
    client = client_for(escrow_app(ctx))
    key = issue_key(ctx, Role.ADMIN)
    lookups = KeyLookups(ctx)
    try:
        assert client.get("/v1/webhooks", headers=auth(key)).status_code == 200
        assert lookups.count == 1
        assert client.get("/v1/webhooks", headers=auth(key)).status_code == 200
        assert lookups.count == 1
        assert_problem(client.get("/v1/webhooks", headers=auth(key + "x")), 401)
        assert_problem(client.get("/v1/webhooks", headers=auth(key + "x")), 401)
        assert lookups.count == 3  # an unknown key is looked up every time, never cached
    finally:
        lookups.remove()


def test_a_key_revoked_elsewhere_is_refused_by_every_replica(
    ctx: EscrowContext, replica: EscrowContext, client_for: Callable[..., TestClient]
) -> None:
    first, second = client_for(escrow_app(ctx)), client_for(escrow_app(replica))
    connected(ctx.invalidation), connected(replica.invalidation)
    key = issue_key(ctx, Role.ADMIN)
    lookups = KeyLookups(replica)
    try:
        for client in (first, second, first, second):
            assert client.get("/v1/webhooks", headers=auth(key)).status_code == 200
        assert lookups.count == 1  # the second replica answers from its cache
    finally:
        lookups.remove()
    since = [(each, each.invalidation.version(API_KEYS_TOPIC)) for each in (ctx, replica)]
    # as `agrifin keys revoke` does it, from a third process's handle on the database
    revoker = Database(ctx.db.url, pool_size=1)
    try:
        with revoker.unit_of_work() as session:
            assert revoke_api_key_hash(session, ctx.tables, key_hash=hash_api_key(key), now=ctx.clock.now())
    finally:
        revoker.dispose()
    for each, version in since:  # each replica hears of it on its own (PostgreSQL: a moment later)
        assert each.invalidation.wait_moved(API_KEYS_TOPIC, version, WAIT_S)
    for client in (second, first):
        assert_problem(client.get("/v1/webhooks", headers=auth(key)), 401)


def test_a_key_revoked_in_this_process_is_refused_at_once(
    ctx: EscrowContext, client_for: Callable[..., TestClient]
) -> None:
    client = client_for(escrow_app(ctx))
    connected(ctx.invalidation)
    key = issue_key(ctx, Role.ADMIN)
    assert client.get("/v1/webhooks", headers=auth(key)).status_code == 200
    with ctx.db.unit_of_work() as session:
        revoke_api_key_hash(session, ctx.tables, key_hash=hash_api_key(key), now=ctx.clock.now())
    assert_problem(client.get("/v1/webhooks", headers=auth(key)), 401)
