"""Every change writes an outbox event; every money movement an audit entry; replays replay."""

from __future__ import annotations

from sqlalchemy import update

from shared.platform import ServiceContext
from tests.escrow.kit import EscrowApi
from tests.support import assert_problem as is_problem
from tests.support import auth


def _full_lifecycle(api: EscrowApi) -> str:
    eid = api.create()["id"]
    api.fund(eid)
    api.ship_and_deliver(eid, "A")
    api.lot(eid, "A", "accept", {"amount_minor": 50_000})
    api.ship_and_deliver(eid, "B")
    api.lot(eid, "B", "dispute", {"reason": "late"})
    api.lot(eid, "B", "resolve", {"seller_minor": 20_000}, key="admin")
    payout = api.post("/v1/payouts", {"seller_id": "seller-1", "currency": "KES"}, key="admin", expect=201)
    api.post(f"/v1/sandbox/payouts/{payout['id']}/settle", key="admin")
    return str(eid)


def test_outbox_events_carry_the_marketplace_as_owner(api: EscrowApi) -> None:
    eid = _full_lifecycle(api)
    topics = [e["topic"] for e in api.events()]
    assert topics == [
        "escrow.created",
        "payment.started",
        "escrow.funded",
        "lot.shipped",
        "lot.delivered",
        "lot.accepted",
        "lot.released",
        "lot.refunded",
        "lot.shipped",
        "lot.delivered",
        "escrow.disputed",
        "dispute.resolved",
        "lot.released",
        "lot.refunded",
        "escrow.closed",
        "payout.sent",
        "payout.settled",
    ]
    escrow_events = [e for e in api.events() if not e["topic"].startswith("payout.")]
    assert {e["owner"] for e in escrow_events} == {"shop-1"}
    assert {e["subject"] for e in escrow_events} == {f"escrow:{eid}"}
    assert {e["owner"] for e in api.events() if e["topic"].startswith("payout.")} == {None}


def test_audit_chain_verifies_after_a_lifecycle_and_names_money_movements(
    api: EscrowApi, ctx: ServiceContext
) -> None:
    _full_lifecycle(api)
    entries = api.get("/v1/audit/entries", key="auditor")["entries"]
    assert [e["action"] for e in entries] == [
        "escrow.fund",
        "escrow.accept",
        "escrow.resolve",
        "payout.sent",
        "payout.settled",
    ]
    accept = entries[1]["payload"]
    assert [entry["kind"] for entry in accept["entries"]] == ["release", "refund"]
    verified = api.get("/v1/audit/verify", key="auditor")
    head = verified.pop("head")
    assert (verified["ok"], verified["entries"], verified["first_broken_seq"], verified["reason"]) == (
        True,
        5,
        None,
        None,
    )
    assert head == f"0:{'0' * 64}"  # chain 0 holds only anchors; none written yet

    audit = ctx.tables.audit_log
    with ctx.db.unit_of_work() as session:
        session.execute(update(audit).where(audit.c.seq == 2).values(actor="someone-else"))
    report = api.get("/v1/audit/verify", key="auditor")
    assert (report["ok"], report["first_broken_seq"]) == (False, 2)


def test_a_refused_action_writes_no_event_no_audit_no_entry(api: EscrowApi, ctx: ServiceContext) -> None:
    eid = api.create()["id"]
    api.fund(eid)  # so there is money an accept would move, and entries, events and audit to count

    def state() -> tuple[int, int, int, int]:
        escrow = api.escrow(eid)
        return (
            api.count(ctx.tables.outbox),
            api.count(ctx.tables.audit_log),
            api.verify()["entries"],
            len(escrow["timeline"]),
        )

    before = state()
    assert before[1:3] == (1, 1)
    market = auth(api.keys["market"])
    is_problem(api.client.post(f"/v1/escrows/{eid}/lots/A/deliver", headers=market), 409)
    is_problem(api.client.post(f"/v1/escrows/{eid}/lots/A/accept", headers=market), 409)
    assert state() == before


def test_an_idempotent_replay_returns_the_first_answer_and_moves_money_once(api: EscrowApi) -> None:
    eid = api.create()["id"]
    api.fund(eid)
    api.ship_and_deliver(eid, "A")
    headers = auth(api.keys["market"], **{"Idempotency-Key": "accept-A-1"})
    first = api.client.post(f"/v1/escrows/{eid}/lots/A/accept", headers=headers)
    second = api.client.post(f"/v1/escrows/{eid}/lots/A/accept", headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json() and second.headers["idempotent-replayed"] == "true"
    releases = [e for e in api.get(f"/v1/escrows/{eid}/entries")["entries"] if e["kind"] == "release"]
    assert len(releases) == 1
    other = api.client.post(f"/v1/escrows/{eid}/lots/A/accept", json={"amount_minor": 5}, headers=headers)
    assert is_problem(other, 422)["errors"][0]["field"] == "header.Idempotency-Key"
