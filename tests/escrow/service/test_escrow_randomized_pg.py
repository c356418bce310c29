"""A seeded random run of several hundred operations over many escrows, partly concurrent.

Each round picks up to eight operations (creating escrows in two currencies, funding with the
occasional wrong amount, every lot action, cancels, disputes and resolutions, payouts, the
worker's jobs) and runs them on as many threads at once, so some race on the same escrow.
The clock moves between rounds. Afterwards the ledger must be sound: the trial balance
agrees per currency, ``ledger verify`` passes, the audit chain verifies, and every escrow's
money adds up and matches its lots.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.escrow.jobs import auto_release, expire_unfunded
from services.escrow.models import AssignmentRow, SweepRow
from shared.clock import ManualClock
from shared.platform import ServiceContext
from tests.escrow.kit import EscrowApi, assert_conserved
from tests.factories.escrow import AssignmentPayloadFactory
from tests.support import auth

pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("postgres_only")]

SEED = 20260302
OPERATIONS = 420
CURRENCIES = ("KES", "UGX")
SELLERS = ("seller-1", "seller-2", "seller-3")
ALLOWED_STATUSES = {200, 201, 202, 404, 409, 422}


class Run:
    """The operations of the random run, each one HTTP request (or job run) or two."""

    def __init__(self, api: EscrowApi, ctx: ServiceContext, clock: ManualClock, rng: random.Random) -> None:
        self.api, self.ctx, self.clock, self.rng = api, ctx, clock, rng
        self.escrows: list[str] = []
        self.statuses: Counter[int] = Counter()
        self.lock = threading.Lock()

    def _headers(self, key: str) -> dict[str, str]:
        return auth(self.api.keys[key])

    def _post(self, path: str, body: Any = None, *, key: str) -> Any:
        return self._record(self.api.client.post(path, json=body, headers=self._headers(key)))

    def _record(self, response: Any) -> Any:
        with self.lock:
            self.statuses[response.status_code] += 1
        assert response.status_code in ALLOWED_STATUSES, response.text
        return response

    def create(self, rng: random.Random) -> None:
        now = self.clock.now()
        lots = [
            {"lot_ref": f"L{i}", "amount_minor": rng.randint(1, 200_000)} for i in range(rng.randint(1, 3))
        ]
        body = {
            "order_ref": f"R-{rng.getrandbits(48):x}",
            "buyer_id": f"buyer-{rng.randint(1, 9)}",
            "seller_id": rng.choice(SELLERS),
            "currency": rng.choice(CURRENCIES),
            "lots": lots,
            "fee": {"bps": rng.choice([0, 150, 250]), "min_minor": rng.choice([0, 100])},
            "inspection_period_hours": 24,
            "funding_deadline": (now + timedelta(days=2)).isoformat(),
            "delivery_deadline": (now + timedelta(days=6)).isoformat(),
        }
        response = self._post("/v1/escrows", body, key="market")
        with self.lock:
            self.escrows.append(response.json()["id"])

    def fund(self, eid: str, rng: random.Random, escrow: dict[str, Any]) -> None:
        payment = self._post(f"/v1/escrows/{eid}/fund", key="market")
        if payment.status_code != 202:
            return
        body = {"amount_minor": escrow["total_minor"] + 1} if rng.random() < 0.1 else {}
        self._post(f"/v1/sandbox/payments/{payment.json()['id']}/confirm", body, key="admin")

    def lot_action(self, eid: str, rng: random.Random, escrow: dict[str, Any]) -> None:
        lot = rng.choice(escrow["lots"])
        choices = lot["allowed_actions"] or ["accept"]
        action = rng.choice(choices)
        if action == "auto_release":
            action = "accept"
        body: dict[str, Any] | None = None
        key = "market"
        if action == "ship":
            body = {"carrier": "G4S", "tracking": f"T{rng.randint(1, 10**6)}"}
        elif action == "accept" and rng.random() < 0.3:
            body = {"amount_minor": rng.randint(1, lot["amount_minor"])}
        elif action in ("dispute", "reject"):
            body = {"reason": "random"}
        elif action == "resolve":
            body, key = {"seller_minor": rng.randint(0, lot["amount_minor"])}, "admin"
        path = f"/v1/escrows/{eid}/lots/{lot['lot_ref']}/{action.replace('_', '-')}"
        self._post(path, body, key=key)

    def payout(self, rng: random.Random) -> None:
        body: dict[str, Any] = {"currency": rng.choice(CURRENCIES)}
        if rng.random() < 0.7:
            body["seller_id"] = rng.choice(SELLERS)
        else:
            body["buyer_id"] = f"buyer-{rng.randint(1, 9)}"
        if rng.random() < 0.5:
            body["amount_minor"] = rng.randint(1, 50_000)
        response = self._post("/v1/payouts", body, key="admin")
        if response.status_code == 201 and rng.random() < 0.7:
            outcome = "returned" if rng.random() < 0.2 else "settled"
            payout_id = response.json()["id"]
            self._post(f"/v1/sandbox/payouts/{payout_id}/settle", {"outcome": outcome}, key="admin")

    def operation(self, seed: int, snapshot: dict[str, dict[str, Any]]) -> None:
        rng = random.Random(seed)
        roll = rng.random()
        if roll < 0.12 or not snapshot:
            self.create(rng)
            return
        if roll < 0.17:
            self.payout(rng)
            return
        if roll < 0.20:
            (auto_release if rng.random() < 0.5 else expire_unfunded)(self.ctx)
            return
        eid = rng.choice(sorted(snapshot))
        escrow = snapshot[eid]
        actions = escrow["allowed_actions"]
        if "fund" in actions and rng.random() < 0.8:
            self.fund(eid, rng, escrow)
        elif "cancel" in actions and rng.random() < 0.08:
            self._post(f"/v1/escrows/{eid}/cancel", key="market")
        else:
            self.lot_action(eid, rng, escrow)


def test_randomized_operations_keep_the_ledger_sound(
    api: EscrowApi, ctx: ServiceContext, clock: ManualClock
) -> None:
    rng = random.Random(SEED)
    api.post(
        "/v1/assignments",
        AssignmentPayloadFactory(share_bps=3_000, cap_minor=150_000),
        key="service",
        expect=201,
    )
    ugx = AssignmentPayloadFactory(seller_id="seller-2", currency="UGX", share_bps=5_000, cap_minor=40_000)
    api.post("/v1/assignments", ugx, key="service", expect=201)
    run = Run(api, ctx, clock, rng)
    done = 0
    while done < OPERATIONS:
        snapshot = {eid: api.escrow(eid) for eid in rng.sample(run.escrows, min(len(run.escrows), 12))}
        open_ones = {
            eid: e
            for eid, e in snapshot.items()
            if e["status"] not in ("completed", "refunded", "cancelled", "expired")
        }
        width = rng.randint(1, 8)
        seeds = [rng.getrandbits(32) for _ in range(width)]
        errors: list[BaseException] = []
        work = _capturing(run.operation, errors)
        threads = [threading.Thread(target=work, args=(s, open_ones)) for s in seeds]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        done += width
        clock.advance(timedelta(hours=rng.choice([0, 1, 3, 12, 30])))

    assert sum(run.statuses.values()) >= OPERATIONS and run.statuses[500] == 0
    assert run.statuses[200] > OPERATIONS // 4 and run.statuses[409] > 0, run.statuses
    _assert_sound(api, ctx, run.escrows)


def _capturing(target: Any, errors: list[BaseException]) -> Any:
    def wrapped(*args: Any) -> None:
        try:
            target(*args)
        except BaseException as exc:  # re-raised in the main thread by the assertion
            errors.append(exc)

    return wrapped


def _assert_sound(api: EscrowApi, ctx: ServiceContext, escrows: list[str]) -> None:
    trial = api.trial_balance()
    assert trial["balanced"] and all(c["debits_minor"] == c["credits_minor"] for c in trial["currencies"])
    report = api.verify()
    assert report["ok"], report["problems"]
    assert api.get("/v1/audit/verify", key="auditor")["ok"]
    statuses: Counter[str] = Counter()
    for eid in escrows:
        escrow = api.escrow(eid, key="admin")
        statuses[escrow["status"]] += 1
        assert_conserved(escrow)
        lots = escrow["lots"]
        if escrow["funded_minor"]:
            assert escrow["funded_minor"] == escrow["total_minor"]
            gross = sum(lot["released_minor"] for lot in lots)
            assert escrow["released_minor"] + escrow["fees_minor"] == gross
            assert escrow["refunded_minor"] == sum(lot["refunded_minor"] for lot in lots)
            settled = {
                "accepted",
                "partially_accepted",
                "auto_released",
                "returned",
                "resolved",
                "refunded",
                "cancelled",
            }
            open_lots = [lot["amount_minor"] for lot in lots if lot["status"] not in settled]
            assert escrow["held_minor"] == sum(open_lots)
        else:
            assert escrow["released_minor"] == escrow["refunded_minor"] == escrow["held_minor"] == 0
    assert len(statuses) >= 4, statuses
    with ctx.db.unit_of_work(read_only=True) as session:
        for assignment in session.execute(select(AssignmentRow)).scalars():
            swept = sum(
                s.amount_minor
                for s in session.execute(
                    select(SweepRow).where(SweepRow.assignment_id == assignment.id)
                ).scalars()
            )
            assert swept == assignment.swept_minor <= assignment.cap_minor
