"""The audit page: each service's chain verified on its own (scoring, escrow, loans over their
APIs, the console's in process) with its head; a tampered entry shows its chain broken at that
entry; a service that does not answer is "not answering" in its row only; recorded heads are
checked; escrow's trial balance and ledger verification; auditors and admins only."""

from __future__ import annotations

import html
import re
import uuid

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from services.console.domain.formatting import money
from shared.audit import anchor_chains, verify_chain
from shared.auth import Role
from tests.console.kit import World
from tests.factories.escrow import EscrowPayloadFactory
from tests.factories.loans import ProductPayloadFactory
from tests.support import auth, issue_key

SERVICES = ("scoring", "escrow", "loans")


def _activity(world: World) -> None:
    """Something in every service's chains: scoring's champions (the fixture), a loans product, a funded
    escrow; then anchored, so every chain 0 has a head."""
    world.api(
        "loans",
        "POST",
        "/v1/products",
        json=ProductPayloadFactory(),
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    market = issue_key(world.contexts["escrow"], Role.MARKETPLACE, owner="shop-1")
    escrow = world.apps["escrow"].post("/v1/escrows", json=EscrowPayloadFactory(), headers=auth(market))
    assert escrow.status_code == 201, escrow.text
    payment = world.apps["escrow"].post(f"/v1/escrows/{escrow.json()['id']}/fund", headers=auth(market))
    assert payment.status_code == 202, payment.text
    world.api("escrow", "POST", f"/v1/sandbox/payments/{payment.json()['id']}/confirm")
    world.person("clerk", Role.LOAN_OFFICER)  # the console's chain
    for ctx in (*world.contexts.values(), world.console_ctx):  # the worker's anchor job: heads into chain 0
        anchor_chains(ctx.db, ctx.tables, ctx.keyring, now=ctx.clock.now(), actor="system:worker")


def _row(page: str, service: str) -> str:
    found = re.search(rf'<tr id="chain-{service}">(.*?)</tr>', page, re.S)
    assert found is not None, f"no row for {service}"
    return found.group(1)


def _heads(world: World) -> dict[str, str]:
    """Every chain's head as the services themselves report it (and the console's, in process)."""
    heads = {name: world.api(name, "GET", "/v1/audit/verify", role=Role.AUDITOR)["head"] for name in SERVICES}
    ctx = world.console_ctx
    with ctx.db.unit_of_work(read_only=True) as session:
        heads["console"] = str(verify_chain(session, ctx.tables, ctx.keyring).as_dict()["head"])
    return heads


def _escrow_down(browser: TestClient) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    browser.app.state.http["escrow"] = httpx.Client(  # type: ignore[attr-defined]
        base_url="http://escrow.test", transport=httpx.MockTransport(refuse)
    )


def test_an_auditor_sees_four_intact_chains_their_heads_and_a_balanced_trial_balance(world: World) -> None:
    _activity(world)
    browser = world.signed_in("ada", Role.AUDITOR)
    page = browser.get("/audit")
    assert page.status_code == 200
    heads = _heads(world)
    for name in (*SERVICES, "console"):
        row = _row(page.text, name)
        assert "Intact" in row and f'<code class="head">{heads[name]}</code>' in row, row
        assert not heads[name].startswith("0:")  # every chain has entries
    assert "Balanced: in every currency the debit balances equal the credit balances." in page.text
    kes = re.search(r'<th scope="row">KES</th>(.*?)</tr>', page.text, re.S)
    assert kes is not None and kes.group(1).count(money(100_000, "KES", "en")) == 2 and "Yes" in kes.group(1)
    assert "Every balance recomputed from the postings agrees" in page.text

    ledger = browser.get("/audit/escrow-ledger")
    assert ledger.status_code == 200
    assert "Balanced" in ledger.text and money(100_000, "KES", "en") in ledger.text
    accounts = world.api("escrow", "GET", "/v1/ledger/trial-balance", role=Role.AUDITOR)["accounts"]
    for account in accounts:
        assert f"<code>{account['account']}</code>" in ledger.text


def test_a_tampered_entry_shows_its_chain_broken_at_that_entry(world: World) -> None:
    _activity(world)
    loans = world.contexts["loans"]
    audit_log = loans.tables.audit_log
    with loans.db.unit_of_work() as session:
        session.execute(update(audit_log).where(audit_log.c.seq == 1).values(payload='{"tampered": true}'))
        chain, chain_seq = session.execute(
            select(audit_log.c.chain, audit_log.c.chain_seq).where(audit_log.c.seq == 1)
        ).one()

    page = world.signed_in("ada", Role.AUDITOR).get("/audit")
    assert page.status_code == 200
    broken = _row(page.text, "loans")
    assert "Broken" in broken and f"Chain {chain}, entry {chain_seq}" in broken
    assert "The entry's payload was changed after it was written." in html.unescape(broken)
    assert '<code class="head">' not in broken
    for name in ("scoring", "escrow", "console"):
        assert "Intact" in _row(page.text, name)


def test_escrow_down_is_not_answering_in_its_row_while_the_others_verify(world: World) -> None:
    _activity(world)
    browser = world.signed_in("ada", Role.AUDITOR)
    heads = _heads(world)
    _escrow_down(browser)

    page = browser.get("/audit")
    assert page.status_code == 200
    assert "Not answering" in _row(page.text, "escrow")
    for name in ("scoring", "loans", "console"):
        assert f'<code class="head">{heads[name]}</code>' in _row(page.text, name)
    assert "The escrow service is not answering right now" in page.text  # the ledger section
    assert "Trial balance" not in page.text

    ledger = browser.get("/audit/escrow-ledger")
    assert ledger.status_code == 503 and "escrow" in ledger.text


def test_chains_are_checked_against_heads_recorded_earlier(world: World) -> None:
    _activity(world)
    heads = _heads(world)
    browser = world.signed_in("ada", Role.AUDITOR)
    forged = "1:" + "f" * 64
    page = browser.get(
        "/audit",
        params={"head_scoring": heads["scoring"], "head_loans": forged, "head_escrow": "yesterday's head"},
    )
    assert page.status_code == 200
    assert "The head recorded earlier is still in the chain, unchanged." in _row(page.text, "scoring")
    loans = _row(page.text, "loans")
    assert "Broken" in loans and "Chain 0, entry 1" in loans  # chain 0's entry 1: the anchor
    assert "differs from the head recorded earlier" in loans
    # A malformed head is refused beside its field, kept as typed; escrow is verified without it.
    field = re.search(r'id="f-head_escrow"[^>]*value="([^"]*)"[^>]*aria-invalid="true"', page.text)
    assert field is not None and "yesterday" in field.group(1)
    assert 'id="e-head_escrow">Write the head as verification shows it' in page.text
    assert "Intact" in _row(page.text, "escrow")

    seq, _, digest = heads["loans"].partition(":")
    later = f"{int(seq) + 5}:{digest}"  # a head beyond the chain's end: entries were cut off
    truncated = browser.get("/audit", params={"head_loans": later})
    row = _row(truncated.text, "loans")
    assert "Broken" in row and "(truncated)" in row


def test_only_auditors_and_admins_open_the_audit_pages(world: World) -> None:
    assert world.signed_in("root", Role.ADMIN).get("/audit").status_code == 200
    for username, role, owner in (
        ("amina", Role.LOAN_OFFICER, None),
        ("mo", Role.MARKETPLACE, "shop-1"),
    ):
        browser = world.signed_in(username, role, owner=owner)
        for path in ("/audit", "/audit/escrow-ledger"):
            page = browser.get(path)
            assert page.status_code == 403 and "Not for your role" in page.text
