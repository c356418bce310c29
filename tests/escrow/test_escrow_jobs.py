"""The worker's escrow jobs, driven by the test clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from services.escrow.app import create_app
from services.escrow.jobs import auto_release, expire_unfunded, pay_sellers, periodic_jobs
from services.escrow.service.sandbox import confirm_due
from services.escrow.settings import EscrowSettings
from shared.clock import ManualClock
from shared.crypto import Keyring
from shared.platform import ServiceContext
from tests.escrow.kit import EscrowApi, assert_conserved


def test_unfunded_escrows_expire_at_their_funding_deadline(
    api: EscrowApi, ctx: ServiceContext, clock: ManualClock
) -> None:
    late = api.create()["id"]
    paid = api.create()["id"]
    api.fund(paid)
    later = api.create(funding_deadline="2026-03-06T08:00:00Z")["id"]
    clock.advance(timedelta(days=2) - timedelta(seconds=1))
    assert expire_unfunded(ctx) == 0
    clock.advance(timedelta(seconds=1))
    assert expire_unfunded(ctx) == 1
    assert expire_unfunded(ctx) == 0
    escrow = api.escrow(late)
    assert escrow["status"] == "expired" and {lot["status"] for lot in escrow["lots"]} == {"cancelled"}
    assert (api.escrow(paid)["status"], api.escrow(later)["status"]) == ("funded", "created")
    event = api.events("escrow.expired")[0]
    assert event["owner"] == "shop-1" and event["payload"]["escrow_id"] == late
    assert escrow["timeline"][-1]["actor"] == "worker:escrow"


def test_delivered_lots_are_released_when_inspection_ends_without_a_dispute(
    api: EscrowApi, ctx: ServiceContext, clock: ManualClock
) -> None:
    eid = api.create()["id"]
    api.fund(eid)
    api.ship_and_deliver(eid, "A")
    api.ship_and_deliver(eid, "B")
    api.lot(eid, "B", "dispute", {"reason": "wet bags"})
    clock.advance(timedelta(hours=71))
    assert auto_release(ctx) == 0
    clock.advance(timedelta(hours=1))
    assert auto_release(ctx) == 1
    assert auto_release(ctx) == 0
    escrow = api.escrow(eid)
    assert [lot["status"] for lot in escrow["lots"]] == ["auto_released", "disputed"]
    assert (escrow["released_minor"], escrow["fees_minor"], escrow["held_minor"]) == (58_500, 1_500, 40_000)
    assert_conserved(escrow)
    released = api.events("lot.released")[0]["payload"]
    assert (released["reason"], released["lot_ref"], released["gross_minor"]) == ("auto_release", "A", 60_000)


def test_the_sandbox_worker_confirms_payments_and_settles_payouts_through_signed_callbacks(
    api: EscrowApi, ctx: ServiceContext, clock: ManualClock
) -> None:
    eid = api.create(lots=[{"lot_ref": "A", "amount_minor": 10_000}])["id"]
    payment = api.post(f"/v1/escrows/{eid}/fund", expect=202)
    assert confirm_due(ctx) == 0  # not pending long enough yet
    clock.advance(timedelta(seconds=2))
    assert confirm_due(ctx) == 1
    assert api.escrow(eid)["status"] == "funded"
    assert api.escrow(eid)["payments"][0]["id"] == payment["id"]
    assert api.count(ctx.tables.webhook_inbox) == 1  # it went through the callback path

    api.ship_and_deliver(eid, "A")
    api.lot(eid, "A", "accept")
    assert pay_sellers(ctx) == 0  # auto_payout is off by default
    ctx.settings = ctx.settings.model_copy(update={"auto_payout": True})
    assert pay_sellers(ctx) == 1 and pay_sellers(ctx) == 0
    clock.advance(timedelta(seconds=2))
    assert confirm_due(ctx) == 1
    payouts = api.get("/v1/payouts", key="auditor")["payouts"]
    assert [(p["amount_minor"], p["status"]) for p in payouts] == [(9_750, "settled")]
    assert api.verify()["ok"]


def test_periodic_jobs_are_named_and_the_sandbox_is_off_in_production(
    ctx: ServiceContext, tmp_path: Path
) -> None:
    assert [name for name, _, _ in periodic_jobs(ctx)] == [
        "escrow.expire_unfunded",
        "escrow.auto_release",
        "escrow.sandbox.confirm",
        "escrow.payouts",
    ]
    assert EscrowSettings(env="test").sandbox_enabled is True
    Keyring.generate(tmp_path, development=False)
    production = EscrowSettings(env="production", keys_dir=tmp_path, database_url="postgresql://db/escrow")
    assert production.sandbox_enabled is False
    assert "/v1/sandbox/payments/{payment_id}/confirm" not in {
        getattr(r, "path", "") for r in create_app(replace(ctx, settings=production)).routes
    }
