"""``shared.clients.escrow.EscrowClient`` against the real escrow app, in-process.

The client's ``httpx.Client`` has a ``MockTransport`` that forwards every request, byte for
byte, to a TestClient of the escrow app: the typed methods are checked against escrow's
real answers, its owner scoping and its problems. Only the unparsable-answer tests answer
from a canned transport (escrow never sends such answers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from services.escrow.app import create_app as create_escrow_app
from shared.auth import ACTING_OWNER_HEADER, ACTING_PERSON_HEADER, ACTING_ROLE_HEADER, Role
from shared.clients.escrow import (
    Escrow,
    EscrowClient,
    EscrowFilters,
    EscrowMoney,
    EscrowSummary,
    LedgerVerification,
    NewLot,
    Payment,
    TradeRate,
    TradeSummary,
    TrialBalance,
)
from shared.clock import ManualClock
from shared.http_client import UpstreamProblem
from shared.platform import ServiceContext
from tests.escrow.kit import EscrowApi, assert_conserved
from tests.factories.escrow import T0, AssignmentPayloadFactory
from tests.support import issue_key

KEYS = {
    "market": (Role.MARKETPLACE, "shop-1"),
    "market2": (Role.MARKETPLACE, "shop-2"),
    "admin": (Role.ADMIN, None),
    "auditor": (Role.AUDITOR, None),
    "service": (Role.SERVICE, "loans"),
    "console": (Role.SERVICE, "console"),
}


def _forwarding(app: TestClient) -> httpx.Client:
    """An httpx.Client whose every request is answered by the escrow app."""

    def forward(request: httpx.Request) -> httpx.Response:
        answer = app.request(
            request.method,
            request.url.raw_path.decode("ascii"),
            content=request.content,
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
        )
        return httpx.Response(
            answer.status_code,
            headers={"content-type": answer.headers.get("content-type", "")},
            content=answer.content,
        )

    return httpx.Client(base_url="http://escrow.test", transport=httpx.MockTransport(forward))


class World:
    """The escrow app, a driver for setting it up, and typed clients per key."""

    def __init__(self, ctx: ServiceContext, app: TestClient) -> None:
        self.ctx = ctx
        self.keys = {name: issue_key(ctx, role, owner) for name, (role, owner) in KEYS.items()}
        self.api = EscrowApi(app, ctx, self.keys)
        self._app = app
        self._opened: list[httpx.Client] = []

    def client(self, key: str, *, headers: dict[str, str] | None = None) -> EscrowClient:
        """A typed client calling with ``key`` (and fixed ``headers``)."""
        http = _forwarding(self._app)
        self._opened.append(http)
        return EscrowClient(http, api_key=self.keys[key], headers=headers, attempts=1, service="escrow")

    def acting(self, role: Role, owner: str | None = None) -> EscrowClient:
        """The console's client for a person (``wanjiru``) acting in ``role``."""
        headers = {ACTING_PERSON_HEADER: "wanjiru", ACTING_ROLE_HEADER: role.value}
        if owner is not None:
            headers[ACTING_OWNER_HEADER] = owner
        return self.client("console", headers=headers)

    def close(self) -> None:
        for http in self._opened:
            http.close()


@pytest.fixture
def world(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> Iterator[World]:
    ctx = make_ctx("escrow")
    made = World(ctx, client_for(create_escrow_app(ctx)))
    yield made
    made.close()


def _settled_lot_a(world: World) -> dict[str, Any]:
    """A funded two-lot escrow (A 60,000 + B 40,000 KES) whose lot A was accepted."""
    escrow = world.api.create()
    world.api.fund(escrow["id"])
    world.api.ship_and_deliver(escrow["id"], "A")
    return world.api.lot(escrow["id"], "A", "accept")


def test_get_escrow_has_its_lots_money_view_and_timeline(world: World) -> None:
    raw = _settled_lot_a(world)
    escrow = world.client("market").get_escrow(raw["id"])
    assert isinstance(escrow, Escrow)
    assert [(lot.lot_ref, lot.status, lot.released_minor) for lot in escrow.lots] == [
        ("A", "accepted", 60_000),
        ("B", "pending", 0),
    ]
    # 250 bps of 60,000 is 1,500 to the platform; B's 40,000 is still held.
    assert escrow.money == EscrowMoney(
        currency="KES",
        funded_minor=100_000,
        released_minor=58_500,
        refunded_minor=0,
        fees_minor=1_500,
        held_minor=40_000,
    )
    assert escrow.money.conserved
    assert_conserved(raw)
    assert [(item.event, item.lot_ref) for item in escrow.timeline] == [
        ("created", None),
        ("payment.started", None),
        ("fund", None),
        ("ship", "A"),
        ("deliver", "A"),
        ("accept", "A"),
    ]
    assert escrow.timeline[2].actor == "provider:sandbox"
    assert escrow.payments[0].amount_minor == 100_000

    entries = world.client("auditor").entries(raw["id"])
    assert [e.ref for e in entries] == [
        e["ref"] for e in world.api.get(f"/v1/escrows/{raw['id']}/entries")["entries"]
    ]
    for entry in entries:
        debits = sum(p.amount_minor for p in entry.postings if p.side == "debit")
        assert debits == sum(p.amount_minor for p in entry.postings if p.side == "credit") > 0


def test_another_marketplaces_escrow_is_a_404_and_ids_stay_in_their_segment(world: World) -> None:
    theirs = world.api.create(key="market2")
    for client in (world.client("market"), world.acting(Role.MARKETPLACE, "shop-1")):
        with pytest.raises(UpstreamProblem) as caught:
            client.get_escrow(theirs["id"])
        assert caught.value.status == 404
        with pytest.raises(UpstreamProblem) as caught:
            client.entries(theirs["id"])
        assert caught.value.status == 404
    # An id is one path segment: "../ledger/verify" names no escrow, it never reaches the ledger.
    with pytest.raises(UpstreamProblem) as caught:
        world.client("auditor").get_escrow("../ledger/verify")
    assert caught.value.status == 404


def test_list_escrows_filters_pages_and_scopes_by_owner(world: World, clock: ManualClock) -> None:
    made = []
    for key, seller in [("market", "seller-1"), ("market2", "seller-1"), ("market", "seller-2")]:
        made.append(world.api.create(key=key, seller_id=seller)["id"])
        clock.advance(timedelta(hours=1))
    auditor = world.client("auditor")
    everyone = auditor.list_escrows()
    assert all(isinstance(e, EscrowSummary) for e in everyone)
    assert [e.id for e in everyone] == made[::-1]
    assert [e.id for e in auditor.list_escrows(limit=2, offset=2)] == [made[0]]
    window = EscrowFilters(created_from=T0 + timedelta(hours=1), created_to=T0 + timedelta(hours=2))
    assert [e.id for e in auditor.list_escrows(window)] == [made[1]]
    assert [e.id for e in auditor.list_escrows(EscrowFilters(seller_id="seller-1"))] == [made[1], made[0]]

    mine = [made[2], made[0]]
    assert [e.id for e in world.client("market").list_escrows()] == mine
    operator = world.acting(Role.MARKETPLACE, "shop-1")
    assert [e.id for e in operator.list_escrows()] == mine
    assert {e.marketplace for e in world.acting(Role.AUDITOR).list_escrows()} == {"shop-1", "shop-2"}
    with pytest.raises(UpstreamProblem) as caught:
        world.acting(Role.LOAN_OFFICER).list_escrows()
    assert caught.value.status == 403


def test_naive_times_are_refused_before_the_call() -> None:
    with pytest.raises(ValueError, match="timezone"):
        EscrowFilters(created_from=T0.replace(tzinfo=None))


def test_trial_balance_and_verification_for_the_auditor_page(world: World) -> None:
    _settled_lot_a(world)
    auditor = world.client("auditor")
    trial = auditor.trial_balance()
    assert isinstance(trial, TrialBalance) and trial.balanced
    assert [(c.currency, c.debits_minor, c.credits_minor) for c in trial.currencies] == [
        ("KES", 100_000, 100_000)
    ]
    assert sum(a.debit_minor for a in trial.accounts) == sum(a.credit_minor for a in trial.accounts)
    report = auditor.verify_ledger()
    assert report == LedgerVerification(
        ok=True, accounts=report.accounts, entries=report.entries, postings=report.postings
    )
    assert report.entries >= 2

    with world.ctx.db.unit_of_work() as session:  # a stored balance edited behind the ledger's back
        session.execute(
            text("UPDATE ledger_accounts SET balance_minor = balance_minor + 7 WHERE kind = 'escrow_holding'")
        )
    assert not auditor.trial_balance().balanced
    broken = auditor.verify_ledger()
    assert not broken.ok and broken.first_problem is not None
    assert broken.first_problem.startswith("escrow_holding:") and broken.problems[0] == broken.first_problem
    with pytest.raises(UpstreamProblem) as caught:
        world.client("market").verify_ledger()
    assert caught.value.status == 403


def test_assignments_and_payouts(world: World) -> None:
    created = world.api.post(
        "/v1/assignments",
        AssignmentPayloadFactory(share_bps=2_000, cap_minor=15_000),
        key="admin",
        expect=201,
    )
    _settled_lot_a(world)
    auditor = world.client("auditor")
    assignment = auditor.get_assignment(created["id"])
    # 20% of the 58,500 released to the seller's side is swept to the lender (cap 15,000).
    assert (assignment.swept_minor, assignment.remaining_minor, assignment.status) == (
        11_700,
        3_300,
        "active",
    )
    assert [a.id for a in auditor.list_assignments(seller_id="seller-1")] == [created["id"]]
    assert auditor.list_assignments(seller_id="seller-9") == []
    assert [a.id for a in world.client("service").list_assignments(loan_ref=created["loan_ref"])] == [
        created["id"]
    ]

    payout = world.api.post(
        "/v1/payouts", {"seller_id": "seller-1", "currency": "KES"}, key="admin", expect=201
    )
    listed = auditor.list_payouts(payee_kind="seller")
    assert [(p.id, p.payee_id, p.amount_minor) for p in listed] == [
        (payout["id"], "seller-1", 58_500 - 11_700)
    ]
    assert auditor.get_payout(payout["id"]).status == payout["status"]
    assert auditor.list_payouts(payee_kind="lender") == []
    assert auditor.list_payouts(offset=1) == []
    with pytest.raises(UpstreamProblem) as caught:
        world.client("market").list_payouts()
    assert caught.value.status == 403
    with pytest.raises(UpstreamProblem) as caught:
        auditor.get_assignment("nope")
    assert caught.value.status == 404


def test_the_webhook_methods_loans_uses(world: World) -> None:
    loans = world.client("service")
    made = loans.subscribe(
        url="https://loans.example/v1/inbound/escrow", topics=["assignment.swept"], idempotency_key="sub-1"
    )
    assert made.secret and made.active and made.topics == ["assignment.swept"]
    listed = loans.subscriptions()
    assert [(s.id, s.secret) for s in listed] == [(made.id, None)]
    assert loans.deactivate_subscription(made.id, idempotency_key="off-1").active is False


def test_trade_summary_for_scoring(world: World) -> None:
    _settled_lot_a(world)  # seller-1: lot A 60,000 delivered on time and accepted (fee 1,500); B pending
    loans = world.client("service")
    summary = loans.trade_summary(
        "seller-1", datetime(2026, 3, 2, 11, 1, tzinfo=timezone(timedelta(hours=3)))
    )
    assert isinstance(summary, TradeSummary)
    assert (summary.as_of, summary.window_start) == (
        T0 + timedelta(minutes=1),
        datetime(2025, 3, 2, 8, 1, tzinfo=UTC),
    )
    assert (summary.escrows, summary.completed_escrows) == (1, 0)
    kes = summary.volume("KES")
    assert kes is not None and summary.volume("UGX") is None
    assert (kes.gross_minor, kes.fees_minor, kes.net_minor, kes.refunds) == (60_000, 1_500, 58_500, 0)
    assert summary.on_time_delivery_rate == TradeRate(value="1.0000", numerator=1, denominator=1)
    assert summary.acceptance_rate.decimal == Decimal(1)
    assert summary.dispute_rate == TradeRate(value="0.0000", numerator=0, denominator=1)
    # At T0 itself (the default, the test clock's now) the escrow made at T0 is not yet in the window.
    assert world.client("auditor").trade_summary("seller-1").escrows == 0
    empty = loans.trade_summary("nobody", T0 + timedelta(days=1))
    assert (empty.party_id, empty.escrows, empty.currencies) == ("nobody", 0, [])
    with pytest.raises(UpstreamProblem) as caught:  # the id stays in its segment: no other route
        loans.trade_summary("../../ledger/verify")
    assert caught.value.status == 404
    with pytest.raises(ValueError, match="timezone"):
        loans.trade_summary("seller-1", datetime(2026, 3, 2))
    with pytest.raises(UpstreamProblem) as caught:
        world.client("market").trade_summary("seller-1")
    assert caught.value.status == 403


def test_close_assignment_replays_on_its_key(world: World) -> None:
    created = world.api.post("/v1/assignments", AssignmentPayloadFactory(), key="service", expect=201)
    loans = world.client("service")
    closed = loans.close_assignment(created["id"], idempotency_key="close-LN-1")
    assert (closed.id, closed.status) == (created["id"], "closed")
    assert loans.close_assignment(created["id"], idempotency_key="close-LN-1") == closed
    assert world.client("auditor").get_assignment(created["id"]).status == "closed"
    with pytest.raises(UpstreamProblem) as caught:
        loans.close_assignment(created["id"], idempotency_key="close-LN-2")
    assert (caught.value.status, caught.value.problem["current_state"]) == (409, "closed")
    with pytest.raises(UpstreamProblem) as caught:
        world.client("auditor").close_assignment(created["id"], idempotency_key="close-LN-3")
    assert caught.value.status == 403


def test_loans_creates_an_assignment_refunds_an_over_paid_sweep_and_reads_the_sweeps(world: World) -> None:
    loans = world.client("service")
    made = loans.create_assignment(
        seller_id="seller-1",
        lender_id="lender-1",
        currency="KES",
        share_bps=2_000,
        cap_minor=15_000,
        loan_ref="LN-77",
        idempotency_key="disburse-LN-77",
    )
    assert (made.loan_ref, made.share_bps, made.swept_minor, made.refunded_minor) == ("LN-77", 2_000, 0, 0)
    again = loans.create_assignment(
        seller_id="seller-1",
        lender_id="lender-1",
        currency="KES",
        share_bps=2_000,
        cap_minor=15_000,
        loan_ref="LN-77",
        idempotency_key="disburse-LN-77",
    )
    assert again == made  # the disbursement's key replays the answer: one assignment
    assert len(world.client("auditor").list_assignments(loan_ref="LN-77")) == 1
    _settled_lot_a(world)  # 20% of 58,500 = 11,700 swept
    [event] = world.api.events("assignment.swept")

    refund = loans.refund_sweep(
        made.id,
        amount_minor=700,
        reference=f"sweep:{event['id']}",
        reason="loan repaid",
        idempotency_key="r-1",
    )
    assert (refund.reference, refund.amount_minor, refund.assignment_id) == (
        f"sweep:{event['id']}",
        700,
        made.id,
    )
    same = loans.refund_sweep(
        made.id, amount_minor=700, reference=f"sweep:{event['id']}", reason="retried", idempotency_key="r-2"
    )
    assert same == refund  # the same reference answers the first refund
    with pytest.raises(UpstreamProblem) as caught:
        loans.refund_sweep(
            made.id, amount_minor=800, reference=f"sweep:{event['id']}", reason="x", idempotency_key="r-3"
        )
    assert (caught.value.status, caught.value.problem["current_state"]) == (409, "reference_used")
    with pytest.raises(UpstreamProblem) as caught:
        loans.refund_sweep(
            made.id, amount_minor=11_001, reference="too-much", reason="x", idempotency_key="r-4"
        )
    assert (caught.value.status, caught.value.problem["current_state"]) == (409, "exceeds_swept")

    view = world.client("auditor").assignment_sweeps(made.id)
    assert [(s.event_id, s.amount_minor) for s in view.sweeps] == [(event["id"], 11_700)]
    assert [(r.reference, r.amount_minor) for r in view.refunds] == [(f"sweep:{event['id']}", 700)]
    assert (view.swept_minor, view.refunded_minor, view.net_minor) == (11_700, 700, 11_000)
    assert view.assignment.refunded_minor == 700 == loans.get_assignment(made.id).refunded_minor
    assert world.client("auditor").verify_ledger().ok
    with pytest.raises(UpstreamProblem) as caught:
        world.client("auditor").refund_sweep(
            made.id, amount_minor=1, reference="r", reason="x", idempotency_key="r-5"
        )
    assert caught.value.status == 403
    with pytest.raises(UpstreamProblem) as caught:
        loans.assignment_sweeps("../../ledger/verify")
    assert caught.value.status == 404


LOTS = [
    NewLot(lot_ref="A", description="maize", amount_minor=60_000),
    NewLot(lot_ref="B", amount_minor=40_000),
]


def _checkout(client: EscrowClient, order_ref: str, *, key: str, **overrides: Any) -> Escrow:
    """An order of 100,000 KES in two lots, opened through the typed client."""
    order: dict[str, Any] = {
        "order_ref": order_ref,
        "buyer_id": "buyer-1",
        "seller_id": "seller-1",
        "currency": "KES",
        "lots": LOTS,
        "fee_bps": 250,
        "fee_min_minor": 100,
        "inspection_period_hours": 72,
        "funding_deadline": T0 + timedelta(days=2),
        "delivery_deadline": T0 + timedelta(days=10),
        **overrides,
    }
    return client.create_escrow(**order, idempotency_key=key)


def test_the_marketplace_checks_out_an_order_through_the_client(world: World) -> None:
    market, admin = world.client("market"), world.client("admin")
    opened = _checkout(market, "ORD-7", key="open-7")
    assert (opened.status, opened.marketplace, opened.total_minor, opened.fee.min_minor) == (
        "created",
        "shop-1",
        100_000,
        100,
    )
    assert [(lot.lot_ref, lot.description, lot.amount_minor) for lot in opened.lots] == [
        ("A", "maize", 60_000),
        ("B", "", 40_000),
    ]
    assert _checkout(market, "ORD-7", key="open-7") == opened  # the key replays: one escrow
    assert [e.id for e in market.list_escrows(EscrowFilters(order_ref="ORD-7"))] == [opened.id]

    payment = market.fund_escrow(opened.id, idempotency_key="fund-7")
    assert isinstance(payment, Payment)
    assert (payment.status, payment.amount_minor, payment.currency) == ("pending", 100_000, "KES")
    assert market.fund_escrow(opened.id, idempotency_key="fund-7") == payment
    confirmed = admin.confirm_sandbox_payment(payment.id, idempotency_key="confirm-7")
    assert (confirmed.status, confirmed.payment.id, confirmed.payment.status) == (
        "processed",
        payment.id,
        "confirmed",
    )
    with pytest.raises(UpstreamProblem) as caught:  # the worker's sandbox job would answer the same
        admin.confirm_sandbox_payment(payment.id, idempotency_key="confirm-7b")
    assert (caught.value.status, caught.value.problem["current_state"]) == (409, "confirmed")
    assert market.get_escrow(opened.id).status == "funded"

    shipped = market.ship_lot(opened.id, "A", carrier="G4S", tracking="KE-1", idempotency_key="ship-A")
    lot_a = shipped.lots[0]
    assert (lot_a.status, lot_a.carrier, lot_a.tracking) == ("shipped", "G4S", "KE-1")
    assert "deliver" in lot_a.allowed_actions
    delivered = market.deliver_lot(opened.id, "A", idempotency_key="deliver-A")
    assert delivered.lots[0].status == "delivered" and "accept" in delivered.lots[0].allowed_actions
    accepted = market.accept_lot(opened.id, "A", idempotency_key="accept-A")
    assert (accepted.lots[0].status, accepted.lots[0].released_minor) == ("accepted", 60_000)

    market.ship_lot(opened.id, "B", carrier="G4S", tracking="KE-2", idempotency_key="ship-B")
    market.deliver_lot(opened.id, "B", idempotency_key="deliver-B")
    done = market.accept_lot(opened.id, "B", amount_minor=30_000, idempotency_key="accept-B")
    # A: 60,000 less 1,500 fee; B: 30,000 accepted less 750 fee, the other 10,000 back to the buyer.
    assert done.status == "completed"
    assert done.money == EscrowMoney(
        currency="KES",
        funded_minor=100_000,
        released_minor=87_750,
        refunded_minor=10_000,
        fees_minor=2_250,
        held_minor=0,
    )
    assert [(item.event, item.lot_ref) for item in done.timeline][-2:] == [("deliver", "B"), ("accept", "B")]
    assert world.client("auditor").verify_ledger().ok


def test_checkout_problems_arrive_as_upstream_problems(world: World) -> None:
    market = world.client("market")
    opened = _checkout(market, "ORD-8", key="open-8")
    with pytest.raises(UpstreamProblem) as caught:  # not funded yet: a lot cannot ship
        market.ship_lot(opened.id, "A", carrier="G4S", tracking="KE-1", idempotency_key="ship-early")
    assert caught.value.status == 409 and caught.value.service == "escrow"
    assert "ship" not in caught.value.problem["allowed_actions"]
    with pytest.raises(UpstreamProblem) as caught:  # the same key with another body
        _checkout(market, "ORD-9", key="open-8")
    assert caught.value.status == 422
    with pytest.raises(UpstreamProblem) as caught:
        _checkout(market, "ORD-10", key="open-10", currency="XXX")
    assert caught.value.status == 422 and caught.value.problem["errors"][0]["field"] == "currency"
    with pytest.raises(UpstreamProblem) as caught:  # another marketplace's escrow does not exist for it
        world.client("market2").fund_escrow(opened.id, idempotency_key="fund-theirs")
    assert caught.value.status == 404
    with pytest.raises(UpstreamProblem) as caught:  # only an admin drives the sandbox
        market.confirm_sandbox_payment("p-1", idempotency_key="c-1")
    assert caught.value.status == 403
    with pytest.raises(UpstreamProblem) as caught:  # a lot reference stays in its segment
        market.deliver_lot(opened.id, "../../../ledger/verify", idempotency_key="walk")
    assert caught.value.status == 404
    with pytest.raises(ValueError, match="funding_deadline must be timezone-aware"):
        _checkout(market, "ORD-11", key="open-11", funding_deadline=datetime(2026, 3, 4))
    assert [e.order_ref for e in market.list_escrows()] == ["ORD-8"]


def test_an_admin_opens_an_escrow_for_a_named_marketplace(world: World) -> None:
    made = _checkout(world.client("admin"), "ORD-12", key="open-12", marketplace="shop-2")
    assert made.marketplace == "shop-2"
    assert [e.id for e in world.client("market2").list_escrows()] == [made.id]


def _canned(body: bytes) -> httpx.Client:
    """An escrow that is not one: every request answers 200 with ``body``."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/json"}, content=body)

    return httpx.Client(base_url="http://escrow.test", transport=httpx.MockTransport(answer))


@pytest.mark.parametrize(
    ("body", "call"),
    [
        (b"<html>gateway</html>", lambda c: c.get_escrow("e-1")),
        (b'{"escrows": [{"id": "e-1"}]}', lambda c: c.list_escrows()),
        (b'{"ok": true, "accounts": 1, "entries": "many", "postings": 0}', lambda c: c.verify_ledger()),
        (
            b'{"currencies": [{"currency": "KES", "debits_minor": 1.5, "credits_minor": 1.5}],'
            b' "accounts": [], "balanced": true}',
            lambda c: c.trial_balance(),
        ),
        (b'{"payouts": {"id": "p-1"}}', lambda c: c.list_payouts()),
        (b"[]", lambda c: c.get_assignment("a-1")),
        (b'{"assignment": {"id": "a-1"}, "sweeps": []}', lambda c: c.assignment_sweeps("a-1")),
        (b'{"id": "s-1"}', lambda c: c.subscriptions()),
        (b'{"party_id": "p-1", "escrows": "4"}', lambda c: c.trade_summary("p-1")),
    ],
)
def test_an_unparsable_answer_is_a_502(body: bytes, call: Callable[[EscrowClient], object]) -> None:
    with _canned(body) as http, pytest.raises(UpstreamProblem) as caught:
        call(EscrowClient(http))
    assert caught.value.status == 502
    assert caught.value.problem["detail"].startswith("unexpected answer to GET /v1/")


@pytest.mark.parametrize(
    ("body", "call", "path"),
    [
        (b"<html>gateway</html>", lambda c: _checkout(c, "o-1", key="k"), "/v1/escrows"),
        (
            b'{"id": "p-1", "amount_minor": "1000"}',
            lambda c: c.fund_escrow("e-1", idempotency_key="k"),
            "/v1/escrows/e-1/fund",
        ),
        (
            b'{"id": "e-1", "lots": []}',
            lambda c: c.ship_lot("e-1", "A", carrier="G4S", tracking="T", idempotency_key="k"),
            "/v1/escrows/e-1/lots/A/ship",
        ),
        (b"[]", lambda c: c.deliver_lot("e-1", "A", idempotency_key="k"), "/v1/escrows/e-1/lots/A/deliver"),
        (b"{}", lambda c: c.accept_lot("e-1", "A", idempotency_key="k"), "/v1/escrows/e-1/lots/A/accept"),
        (
            b'{"status": "done", "event_id": "x", "detail": "", "payment": {}}',
            lambda c: c.confirm_sandbox_payment("p-1", idempotency_key="k"),
            "/v1/sandbox/payments/p-1/confirm",
        ),
    ],
)
def test_an_unparsable_answer_to_a_post_is_a_502_naming_escrow(
    body: bytes, call: Callable[[EscrowClient], object], path: str
) -> None:
    with _canned(body) as http, pytest.raises(UpstreamProblem) as caught:
        call(EscrowClient(http, service="escrow"))
    assert (caught.value.status, caught.value.service) == (502, "escrow")
    assert caught.value.problem["detail"].startswith(f"unexpected answer to POST {path}: ")
