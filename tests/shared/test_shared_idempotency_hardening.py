"""Idempotency records leak nothing and outlive no one (shared.api, shared.idempotency).

A replay is served only to the still-valid key that made the first request; a stored
response is encrypted (no personal data in ``idempotency_keys.response_body``); a claim is
part of its request's transaction, so a claiming process that dies leaves nothing behind and
a claim in flight makes a duplicate wait for its outcome.
"""

from __future__ import annotations

import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

from fastapi.testclient import TestClient
from sqlalchemy import Connection, select, text

from services.loans.app import create_app as loans_app
from services.loans.settings import LoansContext
from shared.auth import Role, hash_api_key, revoke_api_key_hash
from shared.db import Database
from shared.idempotency import Claimed, ClaimOutcome, KeyRequest, Replay, claim_key, complete_key
from shared.platform import ServiceContext
from tests.factories.loans import BorrowerPayloadFactory
from tests.loans.kit import FakeScoring
from tests.support import assert_problem, auth, issue_key


def _loans(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> tuple[ServiceContext, TestClient]:
    ctx = make_ctx("loans")
    return ctx, client_for(loans_app(cast(LoansContext, ctx), scoring_client=FakeScoring().client()))


def _revoke(ctx: ServiceContext, key: str) -> None:
    with ctx.db.unit_of_work() as session:
        assert revoke_api_key_hash(session, ctx.tables, key_hash=hash_api_key(key), now=ctx.clock.now())


def test_a_revoked_key_gets_401_not_the_stored_response(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> None:
    ctx, client = _loans(make_ctx, client_for)
    key = issue_key(ctx, Role.LOAN_OFFICER)
    person = BorrowerPayloadFactory()
    headers = auth(key, **{"Idempotency-Key": "borrower-1"})
    first = client.post("/v1/borrowers", json=person, headers=headers)
    assert first.status_code == 201, first.text
    replay = client.post("/v1/borrowers", json=person, headers=headers)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    _revoke(ctx, key)
    refused = client.post("/v1/borrowers", json=person, headers=headers)
    assert_problem(refused, 401)
    assert "Idempotent-Replayed" not in refused.headers
    for secret in (person["name"], person["national_id"], person["phone"]):
        assert secret not in refused.text


def test_another_key_never_gets_the_stored_response(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> None:
    ctx, client = _loans(make_ctx, client_for)
    mine, theirs = issue_key(ctx, Role.LOAN_OFFICER), issue_key(ctx, Role.LOAN_OFFICER)
    person = BorrowerPayloadFactory()
    first = client.post("/v1/borrowers", json=person, headers=auth(mine, **{"Idempotency-Key": "b-1"}))
    assert first.status_code == 201, first.text
    other = client.post("/v1/borrowers", json=person, headers=auth(theirs, **{"Idempotency-Key": "b-1"}))
    assert "Idempotent-Replayed" not in other.headers
    assert other.json().get("id") != first.json()["id"]


def test_stored_responses_hold_no_personal_data_and_still_replay(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> None:
    ctx, client = _loans(make_ctx, client_for)
    key = issue_key(ctx, Role.LOAN_OFFICER)
    person = BorrowerPayloadFactory()
    headers = auth(key, **{"Idempotency-Key": "borrower-pii"})
    first = client.post("/v1/borrowers", json=person, headers=headers)
    assert first.status_code == 201, first.text
    t = ctx.tables.idempotency
    with ctx.db.unit_of_work(read_only=True) as session:
        stored = session.execute(select(t.c.response_body)).scalars().all()
    assert len(stored) == 1 and stored[0]
    for secret in (person["name"], person["national_id"], person["phone"]):
        assert secret not in stored[0]
    replay = client.post("/v1/borrowers", json=person, headers=headers)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert replay.json()["name"] == person["name"]


def test_sqlite_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "var" / "nested" / "loans.db"
    db = Database(f"sqlite:///{path}")
    try:
        with db.unit_of_work() as session:
            session.execute(text("CREATE TABLE t (x TEXT)"))
            session.execute(text("INSERT INTO t VALUES ('Wanjiru')"))
        with db.unit_of_work(read_only=True) as session:
            session.execute(text("SELECT x FROM t")).all()
            files = [path, path.with_name("loans.db-wal"), path.with_name("loans.db-shm")]
            modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in files}
    finally:
        db.dispose()
    assert modes == {f.name: 0o600 for f in files}
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


CLAIM_AND_DIE = """
import os, sys
from datetime import datetime
from services.loans.definition import SERVICE
from shared.crypto import Keyring
from shared.db import Database
from shared.idempotency import KeyRequest, claim_key

conn = Database(sys.argv[1]).engine.connect()
conn.begin()
outcome = claim_key(
    conn, SERVICE.tables, keyring=Keyring(), wanted=KeyRequest(scope="s", key="k", request_hash="h"),
    now=datetime.fromisoformat(sys.argv[2]),
)
print(type(outcome).__name__, flush=True)
os._exit(1)  # killed mid-request: its transaction, claim included, never commits
"""

WANTED = KeyRequest(scope="s", key="k", request_hash="h")


def _claim(ctx: ServiceContext, conn: Connection) -> ClaimOutcome:
    return claim_key(conn, ctx.tables, keyring=ctx.keyring, wanted=WANTED, now=ctx.clock.now())


def test_a_retry_after_the_claiming_process_died_is_claimed_at_once(
    make_ctx: Callable[[str], ServiceContext],
) -> None:
    ctx = make_ctx("loans")
    died = subprocess.run(
        [sys.executable, "-c", CLAIM_AND_DIE, ctx.settings.database_url, ctx.clock.now().isoformat()],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert died.returncode == 1 and died.stdout.strip() == "Claimed", died.stderr
    with ctx.db.engine.connect() as conn, conn.begin() as transaction:
        assert isinstance(_claim(ctx, conn), Claimed)  # the dead claim vanished with its transaction
        transaction.rollback()


def _claims_waiting(ctx: ServiceContext) -> int:
    """PostgreSQL: transactions whose claim INSERT waits for another's lock."""
    with ctx.db.unit_of_work(read_only=True) as session:
        return int(
            session.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO idempotency_keys%'"
                )
            ).scalar_one()
        )


def _duplicate_meets(ctx: ServiceContext, backend: str, *, completes: bool) -> ClaimOutcome:
    """What a duplicate claim gets when the claim in flight commits completed, or rolls back."""
    holder = ctx.db.gated_session()
    outcomes: dict[str, ClaimOutcome] = {}

    def duplicate() -> None:
        with ctx.db.unit_of_work(gated=True) as session:
            outcomes["duplicate"] = _claim(ctx, session.connection())
            session.rollback()

    try:
        first = _claim(ctx, holder.connection())
        assert isinstance(first, Claimed)
        thread = threading.Thread(target=duplicate)
        thread.start()
        if backend == "postgresql":  # SQLite: the duplicate queues on the write gate
            give_up = time.monotonic() + 30
            while _claims_waiting(ctx) != 1:
                assert time.monotonic() < give_up, "the duplicate's claim never waited"
                time.sleep(0.01)
        assert "duplicate" not in outcomes
        if completes:
            complete_key(
                holder,
                ctx.tables,
                keyring=ctx.keyring,
                claim=first,
                status=201,
                body="{}",
                content_type="application/json",
            )
            holder.commit()
        else:
            holder.rollback()
    finally:
        holder.close()
    thread.join(timeout=60)
    return outcomes["duplicate"]


def test_a_duplicate_of_a_claim_in_flight_waits_and_replays_its_response(
    make_ctx: Callable[[str], ServiceContext], backend: str
) -> None:
    outcome = _duplicate_meets(make_ctx("loans"), backend, completes=True)
    assert outcome == Replay(status=201, body="{}", content_type="application/json")


def test_a_duplicate_of_a_claim_in_flight_that_fails_claims_the_key(
    make_ctx: Callable[[str], ServiceContext], backend: str
) -> None:
    assert isinstance(_duplicate_meets(make_ctx("loans"), backend, completes=False), Claimed)
