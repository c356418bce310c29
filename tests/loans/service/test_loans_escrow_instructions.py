"""Loans' instructions to escrow, sent by the worker to a real escrow app in-process:
register on disbursement (once, even when the job runs twice or escrow's answer is lost),
close when the loan ends (no sweep after), refund of a sweep that over-paid (the seller's
payable grows back; loans keeps no overpayment), and escrow down (pending, then delivered)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from shared.clock import ManualClock, as_utc
from shared.platform import ServiceContext
from tests.factories.escrow import AssignmentPayloadFactory
from tests.loans.proceeds_kit import SELLER, ProceedsWorld, build_world


@pytest.fixture
def world(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient], clock: ManualClock
) -> ProceedsWorld:
    built = build_world(make_ctx, client_for, clock)
    built.loans.set_date("2026-03-02")
    return built


def _assignments(world: ProceedsWorld, loan_id: str) -> list[dict[str, object]]:
    return [a.model_dump() for a in world.escrow_client.list_assignments(loan_ref=loan_id)]


def test_disbursement_registers_the_assignment_once(world: ProceedsWorld) -> None:
    product = world.linked_product(share_bps=4_000)
    loan = world.disbursed_loan(product["id"], idempotency_key="disburse-1")
    (register,) = world.instructions(loan["id"])
    assert (register.kind, register.status, register.attempts) == ("register", "pending", 0)
    assert register.idempotency_key == f"loans-disbursement-{loan['id']}-disburse-1"
    owed = world.owed(loan["id"])
    assert json.loads(register.payload) == {
        "seller_id": SELLER,
        "lender_id": "agrifin-lender",
        "currency": "KES",
        "share_bps": 4_000,
        "cap_minor": owed,
        "loan_ref": loan["id"],
    }

    report = world.send_instructions()
    assert (report.sent, report.failed, report.retrying) == (1, 0, 0)
    assert world.send_instructions().sent == 0  # the job runs again: nothing more to send
    (assignment,) = _assignments(world, loan["id"])
    assert (assignment["seller_id"], assignment["lender_id"]) == (SELLER, "agrifin-lender")
    assert (assignment["share_bps"], assignment["cap_minor"], assignment["status"]) == (4_000, owed, "active")
    (register,) = world.instructions(loan["id"])
    assert (
        register.status == "done" and json.loads(register.result or "{}")["assignment_id"] == assignment["id"]
    )
    audit = [e["action"] for e in world.loans.get("/v1/audit/entries", limit=200)["entries"]]
    assert "loan.escrow_register_done" in audit


def test_a_lost_answer_still_registers_one_assignment(world: ProceedsWorld) -> None:
    product = world.linked_product()
    loan = world.disbursed_loan(product["id"])  # no Idempotency-Key: derived from the loan id

    def lose_answers(request: httpx.Request) -> httpx.Response:
        answer = world.escrow_http.request(
            request.method,
            request.url.path,
            params=request.url.params,
            content=request.content,
            headers={k: v for k, v in request.headers.items() if k != "host"},
        )
        if request.method == "POST":
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return httpx.Response(answer.status_code, content=answer.content, headers=answer.headers)

    lossy = world.client_over(httpx.MockTransport(lose_answers))
    assert world.send_instructions(lossy).retrying == 1
    (register,) = world.instructions(loan["id"])
    assert register.status == "pending" and register.attempts == 1 and "lost" in (register.last_error or "")
    assert register.idempotency_key == f"loans-disbursement-{loan['id']}"
    assert len(_assignments(world, loan["id"])) == 1  # escrow made it; loans did not hear

    world.clock.advance(timedelta(hours=7))  # past the longest backoff
    assert world.send_instructions().sent == 1
    (assignment,) = _assignments(world, loan["id"])
    (register,) = world.instructions(loan["id"])
    assert (
        register.status == "done" and json.loads(register.result or "{}")["assignment_id"] == assignment["id"]
    )


def test_no_register_without_a_linked_borrower_or_a_share(world: ProceedsWorld) -> None:
    product = world.linked_product()
    unlinked = world.disbursed_loan(product["id"], party=None)
    closed_to_sales = world.loans.product()
    other = world.disbursed_loan(closed_to_sales["id"], party="seller-9")
    assert world.instructions(unlinked["id"]) == [] and world.instructions(other["id"]) == []


def test_a_repaid_loan_closes_its_assignment_and_nothing_is_swept_after(world: ProceedsWorld) -> None:
    product = world.linked_product()
    loan = world.disbursed_loan(product["id"])
    world.send_instructions()
    world.loans.repay(loan["id"], world.owed(loan["id"]), "2026-03-02", "cash-all")
    assert world.loans.loan(loan["id"])["status"] == "closed"
    _, close = world.instructions(loan["id"])
    assert (close.kind, close.status, close.idempotency_key) == (
        "close",
        "pending",
        f"loans-close-{loan['id']}",
    )

    assert world.send_instructions().sent == 1
    (assignment,) = _assignments(world, loan["id"])
    assert assignment["status"] == "closed"
    world.release_lot("A")
    assert world.escrow.events("assignment.swept") == []  # a closed assignment is never swept
    # A re-run changes nothing at escrow.
    assert world.send_instructions().sent == 0
    assert [i.kind for i in world.instructions(loan["id"])] == ["register", "close"]


def test_a_close_escrow_already_made_is_done(world: ProceedsWorld) -> None:
    product = world.linked_product()
    loan = world.disbursed_loan(product["id"])
    world.send_instructions()
    (assignment,) = _assignments(world, loan["id"])
    world.escrow.post(f"/v1/assignments/{assignment['id']}/close", key="admin")  # someone closed it first
    world.loans.repay(loan["id"], world.owed(loan["id"]), "2026-03-02", "cash-all")
    assert world.send_instructions().sent == 1
    close = world.instructions(loan["id"])[-1]
    assert close.status == "done" and json.loads(close.result or "{}")["already_closed"] is True


def test_a_sweep_that_over_pays_is_refunded_to_the_seller(world: ProceedsWorld) -> None:
    product = world.linked_product(share_bps=5_000)
    loan = world.disbursed_loan(product["id"])
    world.send_instructions()
    owed = world.owed(loan["id"])
    world.loans.repay(loan["id"], owed - 1_000, "2026-03-02", "cash-most")  # 1,000 still owed

    world.release_lot("A")  # 60,000 gross, fee 1,500, net 58,500: half swept, 29,250
    (swept,) = world.escrow.events("assignment.swept")
    assert swept["payload"]["amount_minor"] == 29_250
    assert world.deliver_events() == 1
    state = world.loans.loan(loan["id"])
    assert (state["status"], state["credit_balance_minor"]) == ("closed", 0)  # no overpayment kept
    sale = [t for t in world.loans.transactions(loan["id"]) if t["source"] == "sale_proceeds"]
    assert [(t["amount_minor"], t["external_id"]) for t in sale] == [(1_000, f"escrow:{swept['id']}")]
    kinds = [(i.kind, i.status) for i in world.instructions(loan["id"])]
    assert kinds == [("register", "done"), ("refund", "pending"), ("close", "pending")]
    refund = world.instructions(loan["id"])[1]
    assert json.loads(refund.payload)["reference"] == f"sweep-refused:{swept['id']}"
    assert json.loads(refund.payload)["amount_minor"] == 28_250

    before = world.escrow.balances()
    assert world.send_instructions().sent == 2
    after = world.escrow.balances()
    seller, lender = f"seller_payable:{SELLER}:KES", "lender_receivable:agrifin-lender:KES"
    assert after.get(seller, 0) - before.get(seller, 0) == -28_250  # the seller is owed it again
    assert after.get(lender, 0) - before.get(lender, 0) == 28_250  # the lender no longer holds it
    (assignment,) = world.escrow_client.list_assignments(loan_ref=loan["id"])
    held = world.escrow_client.assignment_sweeps(assignment.id)
    assert (held.swept_minor, held.refunded_minor, held.net_minor) == (29_250, 28_250, 1_000)
    assert [r.reference for r in held.refunds] == [f"sweep-refused:{swept['id']}"]
    assert assignment.status == "closed"
    assert world.escrow.verify()["ok"] is True


def test_escrow_down_keeps_the_instruction_pending_until_it_is_back(world: ProceedsWorld) -> None:
    product = world.linked_product()
    loan = world.disbursed_loan(product["id"])

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    down = world.client_over(httpx.MockTransport(refuse))
    assert world.send_instructions(down).retrying == 1
    (register,) = world.instructions(loan["id"])
    assert register.status == "pending" and register.attempts == 1
    assert "connection refused" in (register.last_error or "")
    assert register.next_attempt_at is not None and as_utc(register.next_attempt_at) > world.clock.now()
    assert world.send_instructions().sent == 0  # not due yet: backing off
    assert _assignments(world, loan["id"]) == []

    world.clock.advance(timedelta(hours=7))
    assert world.send_instructions().sent == 1
    assert len(_assignments(world, loan["id"])) == 1


def test_escrow_refusing_for_good_fails_the_instruction_and_audits_it(world: ProceedsWorld) -> None:
    # The seller's releases are 60% assigned to another lender already: 60% more exceeds 10,000 bps.
    other = AssignmentPayloadFactory(seller_id=SELLER, share_bps=6_000, loan_ref="another-lenders-loan")
    world.escrow.post("/v1/assignments", other, key="admin", expect=201)
    product = world.linked_product(share_bps=6_000)
    loan = world.disbursed_loan(product["id"])
    assert world.send_instructions().failed == 1
    (register,) = world.instructions(loan["id"])
    assert register.status == "failed" and "10000" in (register.last_error or "")
    assert "HTTP 409" in (register.last_error or "")
    failed = [
        e
        for e in world.loans.get("/v1/audit/entries", limit=200)["entries"]
        if e["action"] == "loan.escrow_instruction_failed"
    ]
    assert [e["payload"]["loan_id"] for e in failed] == [loan["id"]]
    assert world.send_instructions().failed == 0  # failed stays failed: not retried
    # The loan ending sends no close: nothing was registered to close.
    world.loans.repay(loan["id"], world.owed(loan["id"]), "2026-03-02", "cash")
    assert [i.kind for i in world.instructions(loan["id"])] == ["register"]
    assert _assignments(world, loan["id"]) == []
