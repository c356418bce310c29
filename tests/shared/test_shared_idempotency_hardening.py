"""Idempotency records leak nothing and outlive no one (shared.api, shared.idempotency).

A replay is served only to the still-valid key that made the first request; a stored
response is encrypted (no personal data in ``idempotency_keys.response_body``); a claim
whose holder died is taken over at once rather than at the end of its lease.
"""

from __future__ import annotations

import stat
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import cast

from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from services.loans.app import create_app as loans_app
from services.loans.settings import LoansContext
from shared.auth import Role, hash_api_key
from shared.db import Database
from shared.idempotency import Claimed, ClaimOutcome, InProgress, claim_key, release_key
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
    t = ctx.tables.api_keys
    with ctx.db.unit_of_work() as session:
        session.execute(update(t).where(t.c.key_hash == hash_api_key(key)).values(revoked_at=ctx.clock.now()))


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
from datetime import datetime, timedelta
from services.loans.definition import SERVICE
from shared.crypto import Keyring
from shared.db import Database
from shared.idempotency import Claimed, ClaimOutcome, InProgress, claim_key, release_key
from shared.idempotency import Claimed, claim_key

outcome = claim_key(
    Database(sys.argv[1]), SERVICE.tables, keyring=Keyring(), scope="s", key="k", request_hash="h",
    now=datetime.fromisoformat(sys.argv[2]), lease=timedelta(seconds=60),
)
print(type(outcome).__name__, flush=True)
os._exit(1)  # killed mid-flight: no complete, no release
"""


def _claim(ctx: ServiceContext) -> ClaimOutcome:
    return claim_key(
        ctx.db,
        ctx.tables,
        keyring=ctx.keyring,
        scope="s",
        key="k",
        request_hash="h",
        now=ctx.clock.now(),
        lease=timedelta(seconds=60),
    )


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
    retry = _claim(ctx)  # the clock has not moved: the 60 s lease is still running
    assert isinstance(retry, Claimed)
    release_key(ctx.db, ctx.tables, claim=retry)


def test_a_live_claim_is_not_taken_over(make_ctx: Callable[[str], ServiceContext]) -> None:
    ctx = make_ctx("loans")
    first = _claim(ctx)
    assert isinstance(first, Claimed)
    try:
        assert isinstance(_claim(ctx), InProgress)
    finally:
        release_key(ctx.db, ctx.tables, claim=first)
    second = _claim(ctx)
    assert isinstance(second, Claimed)
    release_key(ctx.db, ctx.tables, claim=second)
