"""The ledger's own guards in the database, the commit tail, and ``agrifin ledger verify``.

Entries and postings are append-only (triggers), postings are positive, debit or credit and in
their account's currency, accounts that may not go negative cannot (CHECK constraints), and on
PostgreSQL an unbalanced entry cannot commit (deferred constraint trigger).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from services.cli import app as cli
from services.escrow.domain.postings import funding_entry
from services.escrow.repository.ledger import post_entries
from shared.changes import record_change
from shared.money import Money
from shared.platform import ServiceContext
from shared.webhooks import record_inbox
from tests.escrow.kit import EscrowApi


def _settled(api: EscrowApi) -> str:
    eid = api.create()["id"]
    api.fund(eid)
    api.ship_and_deliver(eid, "A")
    api.lot(eid, "A", "accept")
    return str(eid)


def _ids(ctx: ServiceContext) -> tuple[int, int, int]:
    """(an entry id, a KES account id, a posting id)."""
    with ctx.db.unit_of_work(read_only=True) as session:
        row = session.execute(
            text("SELECT p.entry_id, p.account_id, p.id FROM ledger_postings p ORDER BY p.id LIMIT 1")
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET memo = 'edited' WHERE id = :entry",
        "DELETE FROM ledger_entries WHERE id = :entry",
        "UPDATE ledger_postings SET amount_minor = amount_minor + 1 WHERE id = :posting",
        "DELETE FROM ledger_postings WHERE id = :posting",
    ],
)
def test_entries_and_postings_are_append_only(api: EscrowApi, ctx: ServiceContext, statement: str) -> None:
    _settled(api)
    entry, _, posting = _ids(ctx)
    with pytest.raises(DBAPIError, match="append-only"), ctx.db.unit_of_work() as session:
        session.execute(text(statement), {"entry": entry, "posting": posting})


@pytest.mark.parametrize(
    ("side", "amount", "currency"),
    [
        ("debit", 0, "KES"),
        ("credit", -5, "KES"),
        ("sideways", 5, "KES"),
        ("debit", 5, "UGX"),
    ],
)
def test_postings_are_positive_debit_or_credit_in_their_accounts_currency(
    api: EscrowApi, ctx: ServiceContext, side: str, amount: int, currency: str
) -> None:
    _settled(api)
    entry, account, _ = _ids(ctx)
    with pytest.raises(DBAPIError), ctx.db.unit_of_work() as session:
        session.execute(
            text(
                "INSERT INTO ledger_postings (entry_id, account_id, currency, side, amount_minor) "
                "VALUES (:e, :a, :c, :s, :m)"
            ),
            {"e": entry, "a": account, "c": currency, "s": side, "m": amount},
        )


def test_an_account_that_may_not_go_negative_never_does(api: EscrowApi, ctx: ServiceContext) -> None:
    _settled(api)
    with pytest.raises(DBAPIError), ctx.db.unit_of_work() as session:
        session.execute(text("UPDATE ledger_accounts SET balance_minor = 1 WHERE kind = 'seller_payable'"))


def test_an_unbalanced_entry_cannot_commit_on_postgresql(
    api: EscrowApi, ctx: ServiceContext, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("the deferred zero-sum trigger is PostgreSQL-only; SQLite relies on the code's check")
    _settled(api)
    _, account, _ = _ids(ctx)
    session = ctx.db.sessionmaker()
    try:
        entry = session.execute(
            text(
                "INSERT INTO ledger_entries (ref, kind, memo, created_at) "
                "VALUES ('forged', 'funding', 'x', now()) RETURNING id"
            )
        ).scalar_one()
        session.execute(
            text(
                "INSERT INTO ledger_postings (entry_id, account_id, currency, side, amount_minor) "
                "VALUES (:e, :a, 'KES', 'debit', 500)"
            ),
            {"e": entry, "a": account},
        )
        with pytest.raises(DBAPIError, match="does not balance"):
            session.commit()  # the check is deferred to here
    finally:
        session.rollback()
        session.close()
    assert api.verify()["entries"] == 2


def test_ledger_verify_cli_passes_then_fails_on_a_tampered_balance(
    api: EscrowApi, ctx: ServiceContext, keys_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _settled(api)
    monkeypatch.setenv("AGRIFIN_ESCROW_DATABASE_URL", ctx.db.url)
    monkeypatch.setenv("AGRIFIN_KEYS_DIR", str(keys_dir))
    monkeypatch.setenv("AGRIFIN_VAR_DIR", str(tmp_path))
    runner = CliRunner()
    ok = runner.invoke(cli, ["ledger", "verify"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output) == {
        "ok": True,
        "accounts": 6,
        "entries": 2,
        "postings": 5,
        "first_problem": None,
        "problems": [],
    }
    trial = runner.invoke(cli, ["ledger", "trial-balance"])
    assert trial.exit_code == 0 and json.loads(trial.output)["currencies"][0]["debits_minor"] == 100_000

    with ctx.db.unit_of_work() as session:  # someone edits a stored balance behind the ledger's back
        session.execute(
            text(
                "UPDATE ledger_accounts SET balance_minor = balance_minor + 7 "
                "WHERE kind = 'provider_clearing'"
            )
        )
    broken = runner.invoke(cli, ["ledger", "verify"])
    assert broken.exit_code == 1
    report = json.loads(broken.output)
    named = "provider_clearing:sandbox:KES: stored balance 100007 but postings sum to 100000"
    assert report["problems"] == [named] and report["first_problem"] == named
    assert runner.invoke(cli, ["ledger", "trial-balance"]).exit_code == 1


def test_hot_balances_and_the_audit_entry_land_at_commit_once_or_not_at_all(
    api: EscrowApi, ctx: ServiceContext
) -> None:
    eid = api.create()["id"]
    entry = funding_entry(escrow_id=eid, amount=Money(100_000, "KES"), provider="sandbox", ref="by-hand/1")
    clearing = "SELECT balance_minor FROM ledger_accounts WHERE kind = 'provider_clearing'"

    def post(session: Session) -> None:
        post_entries(session, entries=[entry], escrow_id=eid, now=ctx.clock.now())
        record_change(
            session, ctx, actor="test", action="escrow.fund", subject=f"escrow:{eid}", payload={}, event=False
        )

    def fail_after_posting() -> None:
        with ctx.db.unit_of_work() as session:
            post(session)
            raise RuntimeError("the request fails after posting")

    with pytest.raises(RuntimeError, match="fails"):
        fail_after_posting()
    assert api.verify()["entries"] == 0 and api.count(ctx.tables.audit_log) == 0

    with ctx.db.unit_of_work() as session:
        post(session)
        assert session.execute(text(clearing)).scalar_one() == 0  # queued for the commit tail
        assert record_inbox(session, ctx.tables, event_id="e-1", source="t", topic="t", now=ctx.clock.now())
        assert session.execute(text(clearing)).scalar_one() == 0  # a SAVEPOINT is not the commit
    assert api.balances()["provider_clearing:sandbox:KES"] == 100_000
    assert api.verify()["ok"] and api.count(ctx.tables.audit_log) == 1


def test_an_entry_reference_is_posted_at_most_once(api: EscrowApi, ctx: ServiceContext) -> None:
    """Entry refs are unique, so an action's money can never be moved twice, whatever else fails."""
    eid = api.create()["id"]
    entry = funding_entry(
        escrow_id=eid, amount=Money(100_000, "KES"), provider="sandbox", ref=f"{eid}:fund/1"
    )
    with ctx.db.unit_of_work() as session:
        post_entries(session, entries=[entry], escrow_id=eid, now=ctx.clock.now())
    with pytest.raises(IntegrityError), ctx.db.unit_of_work() as session:
        post_entries(session, entries=[entry], escrow_id=eid, now=ctx.clock.now())
    assert api.verify()["entries"] == 1 and api.balances()["provider_clearing:sandbox:KES"] == 100_000
