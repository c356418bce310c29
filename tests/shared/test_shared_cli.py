"""The platform commands of ``agrifin`` (``services/cli.py``): keys, audit verify, bootstrap.

Each runs through typer's CliRunner against the test's own databases (one per service), with
``AGRIFIN_VAR_DIR`` pointing at the test's directory and the working directory elsewhere, so a
command that ignored the setting would write where the test can see it.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select
from typer.testing import CliRunner

from services import cli
from services.registry import SERVICE_NAMES
from shared.audit import anchor_chains, append_audit, verify_chain
from shared.auth import Role, create_api_key, hash_api_key
from shared.platform import ServiceContext

CREDENTIALS = {"loan_officer", "credit_manager", "marketplace", "auditor", "admin"} | {
    f"service:{name}" for name in SERVICE_NAMES
}


@pytest.fixture
def contexts(make_ctx: Callable[[str], ServiceContext]) -> dict[str, ServiceContext]:
    return {name: make_ctx(name) for name in SERVICE_NAMES}


@pytest.fixture
def env(
    contexts: dict[str, ServiceContext], tmp_path: Path, keys_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    values = {
        "AGRIFIN_VAR_DIR": str(tmp_path / "state"),
        "AGRIFIN_KEYS_DIR": str(keys_dir),
        "AGRIFIN_ENV": "test",
    }
    values |= {f"AGRIFIN_{name.upper()}_DATABASE_URL": ctx.db.url for name, ctx in contexts.items()}
    return values


def _run(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(cli.app, list(args), env=env)


def _stored(ctx: ServiceContext, key: str) -> dict[str, Any] | None:
    t = ctx.tables.api_keys
    with ctx.db.unit_of_work(read_only=True) as session:
        row = session.execute(select(t).where(t.c.key_hash == hash_api_key(key))).mappings().first()
        return dict(row) if row is not None else None


# ---------------------------------------------------------------- keys create


@pytest.mark.parametrize("role", ["marketplace", "service"])
def test_keys_create_refuses_a_marketplace_or_service_key_without_an_owner(
    env: dict[str, str], contexts: dict[str, ServiceContext], role: str
) -> None:
    result = _run(env, "keys", "create", "--role", role)
    assert result.exit_code == 2 and "--owner" in result.output
    for ctx in contexts.values():
        with ctx.db.unit_of_work(read_only=True) as session:
            assert session.execute(select(ctx.tables.api_keys.c.id)).first() is None


def test_a_service_key_belongs_to_a_known_service(
    env: dict[str, str], contexts: dict[str, ServiceContext]
) -> None:
    refused = _run(env, "keys", "create", "--role", "service", "--owner", "payments")
    assert refused.exit_code == 2 and "loans" in refused.output
    created = _run(env, "keys", "create", "--role", "service", "--owner", "loans")
    assert created.exit_code == 0, created.output
    key = created.output.strip()
    for ctx in contexts.values():
        row = _stored(ctx, key)
        assert row is not None and (row["role"], row["owner"]) == ("service", "loans")


# ---------------------------------------------------------------- keys revoke


def test_keys_revoke_needs_a_prefix_that_names_one_key(
    env: dict[str, str], contexts: dict[str, ServiceContext]
) -> None:
    twins = ["agf_loan_abcFIRSTFIRSTFIRST", "agf_loan_abcSECONDSECONDSECOND"]  # one 12-character prefix
    for ctx in contexts.values():
        with ctx.db.unit_of_work() as session:
            for key in twins:
                create_api_key(
                    session,
                    ctx.tables,
                    role=Role.LOAN_OFFICER,
                    owner=None,
                    label=None,
                    now=ctx.clock.now(),
                    key=key,
                )

    ambiguous = _run(env, "keys", "revoke", "agf_loan_abc")
    assert ambiguous.exit_code == 1 and "matches 2" in ambiguous.output
    assert all(_stored(ctx, key)["revoked_at"] is None for ctx in contexts.values() for key in twins)  # type: ignore[index]

    missing = _run(env, "keys", "revoke", "agf_none_xyz")
    assert missing.exit_code == 1 and "no active API key" in missing.output

    first_id = _stored(contexts["scoring"], twins[0])["id"]  # type: ignore[index]
    revoked = _run(env, "keys", "revoke", first_id)
    assert revoked.exit_code == 0, revoked.output
    for ctx in contexts.values():  # in every service, though each stores the key under its own id
        assert _stored(ctx, twins[0])["revoked_at"] is not None  # type: ignore[index]
        assert _stored(ctx, twins[1])["revoked_at"] is None  # type: ignore[index]


# ---------------------------------------------------------------- audit verify


def test_audit_verify_refuses_a_malformed_head(
    env: dict[str, str], contexts: dict[str, ServiceContext]
) -> None:
    ctx = contexts["loans"]
    with ctx.db.unit_of_work() as session:
        for i in range(1, 6):
            append_audit(
                session,
                ctx.tables,
                ctx.keyring,
                actor="admin:k1",
                action="loan.approved",
                subject=f"loan:{i}",
                payload={"i": i},
                now=ctx.clock.now(),
            )
    # the worker's anchor (chain 0) records every partition chain's head
    assert anchor_chains(ctx.db, ctx.tables, ctx.keyring, now=ctx.clock.now(), actor="system:test") == 1
    with ctx.db.unit_of_work(read_only=True) as session:
        head = str(verify_chain(session, ctx.tables, ctx.keyring).as_dict()["head"])
    assert head.startswith("1:")
    verified = _run(env, "audit", "verify", "--service", "loans", "--expect-head", head)
    assert verified.exit_code == 0 and "loans: ok (6 entries in 5 chains, 1 anchors" in verified.output
    t = ctx.tables.audit_log
    with ctx.db.unit_of_work() as session:
        session.execute(delete(t).where(t.c.chain == 0))

    truncated = _run(env, "audit", "verify", "--service", "loans", "--expect-head", head)
    assert truncated.exit_code == 1 and "truncated" in truncated.output
    seq, _, digest = head.partition(":")
    for malformed in (
        f" {head}",
        f"x{head}",
        f"{head} ",
        f"{seq}:{digest.upper()}",
        f"{seq}:{digest[:-1]}",
        seq,
    ):
        result = _run(env, "audit", "verify", "--service", "loans", "--expect-head", malformed)
        assert result.exit_code == 2, (malformed, result.output)
        assert "ok" not in result.output.split(), result.output


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_writes_under_the_var_dir_one_key_per_role_and_per_service(
    env: dict[str, str], contexts: dict[str, ServiceContext], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "service_bootstrap", lambda name, ctx: None)  # no model training here
    var_dir = tmp_path / "state"
    first = _run(env, "bootstrap")
    assert first.exit_code == 0, (first.output, first.exception)
    dev_keys = var_dir / "dev-keys.json"
    assert str(dev_keys.resolve()) in first.output
    assert not (tmp_path / "cwd" / "var").exists()
    assert stat.S_IMODE(var_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(dev_keys.stat().st_mode) == 0o600
    keys = json.loads(dev_keys.read_text())
    assert set(keys) == CREDENTIALS
    for ctx in contexts.values():
        for name in SERVICE_NAMES:
            row = _stored(ctx, keys[f"service:{name}"])
            assert row is not None and (row["role"], row["owner"]) == ("service", name)
        assert _stored(ctx, keys["marketplace"])["owner"] == cli.DEV_MARKETPLACE  # type: ignore[index]

    # A second bootstrap keeps the keys, and revokes the key all services once shared.
    legacy = "agf_serv_shared_by_everyone_000000"
    for ctx in contexts.values():
        with ctx.db.unit_of_work() as session:
            session.execute(
                ctx.tables.api_keys.insert().values(
                    id=f"legacy-{ctx.definition.name}",
                    key_hash=hash_api_key(legacy),
                    prefix=legacy[:12],
                    role="service",
                    owner=None,
                    label="dev",
                    created_at=ctx.clock.now(),
                    revoked_at=None,
                )
            )
    dev_keys.write_text(json.dumps({**keys, "service": legacy}))
    os.chmod(var_dir, 0o755)
    second = _run(env, "bootstrap")
    assert second.exit_code == 0, (second.output, second.exception)
    assert json.loads(dev_keys.read_text()) == keys
    assert stat.S_IMODE(var_dir.stat().st_mode) == 0o700
    for ctx in contexts.values():
        assert _stored(ctx, legacy)["revoked_at"] is not None  # type: ignore[index]
