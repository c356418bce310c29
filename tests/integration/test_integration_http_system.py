"""Scoring, escrow and loans as three servers talking over HTTP (``tests.integration.http_system``).

Events are delivered by the worker's own jobs over real HTTP, at least once and in no
guaranteed order; receivers deduplicate by event id. These tests make that happen for real:

- duplicates: a worker sends and dies before recording the answer, so the next run sends the
  same ``assignment.swept`` (and the same ``loan.outcome``) again: applied once, both 2xx;
- out of order: a delivery that failed waits out its backoff while a later event goes first:
  both sweeps become repayments and the balance is right; ``dpd30`` arriving after ``repaid``
  is stored as well;
- a receiver down for a while: every run fails and backs off, nothing is delivered, nothing
  is lost; once it is back each event arrives exactly once;
- scoring down during an application: it waits ``pending_score``; the worker's retry scores
  it once scoring is back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from services.loans.service.applications import retry_delay
from services.loans.service.scoring_retry import RetryReport
from services.scoring.models import Outcome
from shared.clock import ManualClock, as_utc
from shared.platform import ServiceContext
from shared.webhook_delivery import BASE_BACKOFF_SECONDS
from tests.integration.http_system import HttpSystem, http_system

SWEEP_A, SWEEP_B = 11_700, 7_800
"""20% of lot A's net release (60,000 less the 1,500 fee) and of lot B's (40,000 less 1,000)."""


@pytest.fixture
def system(make_ctx: Callable[[str], ServiceContext], clock: ManualClock) -> Iterator[HttpSystem]:
    with http_system(make_ctx, clock) as running:
        yield running


def _features(system: HttpSystem) -> dict[str, Any]:
    """Scoring's own example of a farmer's features (``GET /v1/segments/farmer``)."""
    example: dict[str, Any] = system.scoring.get("/v1/segments/farmer", as_="officer")["example"]
    return example


def _sweeping_loan(system: HttpSystem) -> tuple[dict[str, Any], str]:
    """A loan of 500,000 disbursed 2026-02-02 whose seller assigned 20% of every release to it,
    and a funded order of two lots; (the loan, the escrow id)."""
    loans = system.loans
    loans.set_date("2026-03-02")
    product = loans.product(allow_sale_proceeds=True)
    loan = loans.active_loan(
        product["id"], disburse_on="2026-02-02", principal_minor=500_000, features=_features(system)
    )
    system.escrow.assign(loan["id"], share_bps=2_000, cap_minor=100_000)
    return loan, system.escrow.order()["id"]


def _outcome_loan(system: HttpSystem) -> tuple[dict[str, Any], str]:
    """A scored loan of 300,000 in three monthly installments disbursed 2025-01-01, its business
    date moved to 2025-03-03 (the first installment 30 days late); (the loan, its score id)."""
    loans = system.loans
    loans.set_date("2025-01-01")
    product = loans.product()
    loan = loans.active_loan(
        product["id"],
        disburse_on="2025-01-01",
        principal_minor=300_000,
        annual_interest_rate="12",
        number_of_repayments=3,
        features=_features(system),
    )
    score_id = loans.application(loan["application_id"])["score"]["id"]
    loans.set_date("2025-03-03")
    return loan, score_id


def _repay_in_full(system: HttpSystem, loan_id: str) -> None:
    system.loans.repay(loan_id, system.loans.owed(loan_id), "2025-03-03", "harvest")
    assert system.loans.loan(loan_id)["status"] == "closed"


def _stored_outcomes(system: HttpSystem, loan_id: str) -> list[tuple[str, str]]:
    """(score id, outcome) of each outcome scoring stored for a loan, in the order received."""
    ctx = system.ctx["scoring"]
    with ctx.db.unit_of_work(read_only=True) as session:
        rows = session.execute(
            select(Outcome.score_id, Outcome.outcome)
            .where(Outcome.loan_id == loan_id)
            .order_by(Outcome.received_at, Outcome.id)
        ).all()
    return [(score_id, outcome) for score_id, outcome in rows]


def _inbox(system: HttpSystem, service: str) -> list[str]:
    """The event ids a receiver has recorded (each once)."""
    ctx = system.ctx[service]
    inbox = ctx.tables.webhook_inbox
    with ctx.db.unit_of_work(read_only=True) as session:
        return sorted(session.execute(select(inbox.c.event_id)).scalars())


def _by(events: list[dict[str, Any]], field: str, *values: object) -> list[dict[str, Any]]:
    """The events whose payload's ``field`` is each of ``values`` (one each, and no other event);
    events made at the same instant have no order of their own."""
    found = {event["payload"][field]: event for event in events}
    assert len(events) == len(values) and sorted(map(str, found)) == sorted(map(str, values)), events
    return [found[value] for value in values]


def _ids(events: list[dict[str, Any]]) -> list[str]:
    return sorted(str(e["id"]) for e in events)


# -- 1. duplicates ----------------------------------------------------------------------------------


def test_a_sweep_and_an_outcome_delivered_twice_are_applied_once(system: HttpSystem) -> None:
    loans = system.loans
    loan, escrow_id = _sweeping_loan(system)
    owed = loans.owed(loan["id"])
    system.escrow.accept(escrow_id, "A")
    (swept,) = system.events("escrow", "assignment.swept")
    assert swept["payload"]["amount_minor"] == SWEEP_A

    # The worker sends the sweep and dies before recording the answer; the lease runs out and the
    # next run sends the same event again.
    first = system.deliver_then_crash("escrow")
    assert [(r.ok, r.status_code) for r in first if r is not None] == [(True, 200)]
    assert system.deliver("escrow") == 1
    (delivery,) = system.deliveries("escrow")
    assert (delivery["state"], delivery["attempts"], delivery["last_status_code"]) == ("delivered", 2, 200)
    assert loans.sale_proceeds(loan["id"]) == [(f"escrow:{swept['id']}", SWEEP_A)]
    assert loans.owed(loan["id"]) == owed - SWEEP_A
    assert _inbox(system, "loans") == [swept["id"]]

    # The same for the loan's outcome, delivered by loans to scoring.
    loans.repay(loan["id"], loans.owed(loan["id"]), "2026-03-02", "harvest")
    score_id = loans.application(loan["application_id"])["score"]["id"]
    (outcome,) = system.events("loans", "loan.outcome")
    assert outcome["payload"]["outcome"] == "repaid"
    first = system.deliver_then_crash("loans")
    assert [(r.ok, r.status_code) for r in first if r is not None] == [(True, 200)]
    assert system.deliver("loans") == 1
    (delivery,) = system.deliveries("loans")
    assert (delivery["state"], delivery["attempts"], delivery["last_status_code"]) == ("delivered", 2, 200)
    assert _stored_outcomes(system, loan["id"]) == [(score_id, "repaid")]
    assert _inbox(system, "scoring") == [outcome["id"]]

    assert system.deliver("escrow") == 0 and system.deliver("loans") == 0
    assert loans.sale_proceeds(loan["id"]) == [(f"escrow:{swept['id']}", SWEEP_A)]


# -- 2. out of order --------------------------------------------------------------------------------


def test_two_sweeps_delivered_in_reverse_order_are_both_applied(system: HttpSystem) -> None:
    loans = system.loans
    loan, escrow_id = _sweeping_loan(system)
    owed = loans.owed(loan["id"])
    system.escrow.accept(escrow_id, "A")
    system.stop("loans")
    assert system.deliver("escrow") == 0  # the first sweep fails and backs off
    system.escrow.accept(escrow_id, "B")
    first, second = _by(system.events("escrow", "assignment.swept"), "amount_minor", SWEEP_A, SWEEP_B)
    system.start("loans")

    assert system.deliver("escrow", past_backoff=False) == 1  # only the second is due yet
    assert loans.sale_proceeds(loan["id"]) == [(f"escrow:{second['id']}", SWEEP_B)]
    assert system.deliver("escrow") == 1
    assert loans.sale_proceeds(loan["id"]) == [
        (f"escrow:{second['id']}", SWEEP_B),
        (f"escrow:{first['id']}", SWEEP_A),
    ]
    assert loans.owed(loan["id"]) == owed - SWEEP_A - SWEEP_B
    assert _inbox(system, "loans") == _ids([first, second])


def test_an_outcome_delivered_after_a_later_one_is_stored_too(system: HttpSystem) -> None:
    loan, score_id = _outcome_loan(system)
    system.close_of_business()  # 30 days past due: dpd30
    system.stop("scoring")
    assert system.deliver("loans") == 0  # dpd30 fails and backs off
    _repay_in_full(system, loan["id"])  # repaid
    dpd30, repaid = _by(system.events("loans", "loan.outcome"), "outcome", "dpd30", "repaid")
    system.start("scoring")

    assert system.deliver("loans", past_backoff=False) == 1  # repaid arrives first
    assert _stored_outcomes(system, loan["id"]) == [(score_id, "repaid")]
    assert system.deliver("loans") == 1
    assert _stored_outcomes(system, loan["id"]) == [(score_id, "repaid"), (score_id, "dpd30")]
    assert _inbox(system, "scoring") == _ids([dpd30, repaid])


# -- 3. a receiver down for a while -----------------------------------------------------------------


def _fail_while_down(system: HttpSystem, sender: str, count: int, rounds: int = 3) -> None:
    """Run the sender's delivery job ``rounds`` times while its receiver is down: every run tries
    each of the ``count`` deliveries once, fails, and backs off exponentially; a run before the
    backoff has passed tries nothing."""
    for attempt in range(1, rounds + 1):
        assert system.deliver(sender) == 0
        deliveries = system.deliveries(sender)
        assert len(deliveries) == count
        ceiling = timedelta(seconds=BASE_BACKOFF_SECONDS * 2 ** (attempt - 1))
        for delivery in deliveries:
            assert (delivery["state"], delivery["attempts"]) == ("pending", attempt), delivery
            assert delivery["delivered_at"] is None and "ConnectError" in delivery["last_error"]
            assert ceiling / 2 <= as_utc(delivery["next_attempt_at"]) - system.clock.now() <= ceiling
        assert system.deliver(sender, past_backoff=False) == 0
        assert [d["attempts"] for d in system.deliveries(sender)] == [attempt] * count


def _delivered_once(system: HttpSystem, sender: str, count: int, attempts: int) -> None:
    deliveries = system.deliveries(sender)
    assert len(deliveries) == count
    assert all(
        (d["state"], d["attempts"], d["last_status_code"]) == ("delivered", attempts, 200) for d in deliveries
    ), deliveries
    assert system.deliver(sender) == 0


def test_sweeps_wait_while_loans_is_down_and_each_arrives_once(system: HttpSystem) -> None:
    loans = system.loans
    loan, escrow_id = _sweeping_loan(system)
    owed = loans.owed(loan["id"])
    system.stop("loans")
    system.escrow.accept(escrow_id, "A")
    system.escrow.accept(escrow_id, "B")
    sweeps = system.events("escrow", "assignment.swept")
    assert len(sweeps) == 2

    _fail_while_down(system, "escrow", 2)
    system.start("loans")
    assert system.deliver("escrow") == 2
    _delivered_once(system, "escrow", 2, attempts=4)
    amounts = {str(s["id"]): int(s["payload"]["amount_minor"]) for s in sweeps}
    assert sorted(loans.sale_proceeds(loan["id"])) == sorted((f"escrow:{i}", a) for i, a in amounts.items())
    assert loans.owed(loan["id"]) == owed - SWEEP_A - SWEEP_B
    assert _inbox(system, "loans") == _ids(sweeps)


def test_outcomes_wait_while_scoring_is_down_and_each_arrives_once(system: HttpSystem) -> None:
    loan, score_id = _outcome_loan(system)
    system.stop("scoring")
    system.close_of_business()
    _repay_in_full(system, loan["id"])
    outcomes = system.events("loans", "loan.outcome")
    assert sorted(o["payload"]["outcome"] for o in outcomes) == ["dpd30", "repaid"]

    _fail_while_down(system, "loans", 2)
    system.start("scoring")
    assert system.deliver("loans") == 2
    _delivered_once(system, "loans", 2, attempts=4)
    assert sorted(_stored_outcomes(system, loan["id"])) == [(score_id, "dpd30"), (score_id, "repaid")]
    assert _inbox(system, "scoring") == _ids(outcomes)


# -- 4. scoring down during an application ----------------------------------------------------------


def _retry(system: HttpSystem) -> RetryReport:
    """The worker's ``loans.scoring.retry``, run once."""
    report = system.run_job("loans.scoring.retry")
    assert isinstance(report, RetryReport)
    return report


def test_an_application_waits_while_scoring_is_down_and_the_retry_job_scores_it(
    system: HttpSystem, clock: ManualClock
) -> None:
    loans = system.loans
    features = _features(system)
    product = loans.product()
    borrower = loans.borrower()
    system.stop("scoring")
    application = loans.apply(product["id"], borrower["id"], features=features)
    assert (application["status"], application["score"]) == ("pending_score", None)
    assert application["score_attempts"] == 1 and application["last_score_error"]
    assert loans.get("/healthz")["status"] == "ok"

    clock.advance(retry_delay(1) + timedelta(seconds=1))
    assert _retry(system) == RetryReport(attempted=1, scored=0, still_pending=1, failed=0)
    assert loans.application(application["id"])["status"] == "pending_score"

    system.start("scoring")
    assert _retry(system).attempted == 0  # the next attempt is not due yet
    clock.advance(retry_delay(2) + timedelta(seconds=1))
    assert _retry(system) == RetryReport(attempted=1, scored=1, still_pending=0, failed=0)
    scored = loans.application(application["id"])
    assert scored["status"] == "scored" and scored["score_attempts"] == 3
    stored = system.scoring.get(f"/v1/scores/{scored['score']['id']}")
    assert stored["subject_id"] == borrower["id"]
    assert float(stored["score"]) == float(scored["score"]["score"])
    loan = loans.post(f"/v1/applications/{application['id']}/approve", as_="manager", expect=201)
    assert loan["application_id"] == application["id"]


# -- 5. escrow down during an application -----------------------------------------------------------

MARKETPLACE_FEATURES = ("marketplace_orders_12m", "marketplace_volume_12m", "marketplace_dispute_rate")
"""The farmer segment's marketplace features: loans fills them from escrow's trade summary."""


def test_an_application_waits_while_escrow_is_down_and_the_retry_job_fills_and_scores_it(
    system: HttpSystem, clock: ManualClock
) -> None:
    loans, escrow = system.loans, system.escrow
    order = escrow.order()  # seller-1 sells two lots (60,000 and 40,000 KES minor) through escrow
    escrow.accept(order["id"], "A")
    escrow.accept(order["id"], "B")
    features = {k: v for k, v in _features(system).items() if k not in MARKETPLACE_FEATURES}
    product = loans.product()
    borrower = loans.borrower(marketplace_party_id="seller-1")
    system.stop("escrow")
    application = loans.apply(product["id"], borrower["id"], features=features)
    assert (application["status"], application["score"]) == ("pending_score", None)
    assert application["score_attempts"] == 1 and application["last_score_error"]

    clock.advance(retry_delay(1) + timedelta(seconds=1))
    assert _retry(system) == RetryReport(attempted=1, scored=0, still_pending=1, failed=0)
    assert loans.application(application["id"])["status"] == "pending_score"

    system.start("escrow")
    clock.advance(retry_delay(2) + timedelta(seconds=1))
    assert _retry(system) == RetryReport(attempted=1, scored=1, still_pending=0, failed=0)
    scored = loans.application(application["id"])
    assert scored["status"] == "scored" and scored["score"]["id"]
    sources = dict.fromkeys(features, "applicant") | dict.fromkeys(MARKETPLACE_FEATURES, "marketplace")
    assert scored["feature_sources"] == sources
    # one completed escrow, 97,500 minor KES net to the seller (975 KES), no dispute
    filled = {name: scored["features"][name] for name in MARKETPLACE_FEATURES}
    assert filled == dict(zip(MARKETPLACE_FEATURES, (1, 975, 0), strict=True))
    assert scored["marketplace_as_of"] is not None
    stored = system.scoring.get(f"/v1/scores/{scored['score']['id']}")
    assert stored["subject_id"] == borrower["id"]
    assert {name: stored["feature_sources"][name] for name in MARKETPLACE_FEATURES} == dict.fromkeys(
        MARKETPLACE_FEATURES, "marketplace"
    )
    values = {c["feature"]: c["value"] for c in stored["contributions"]}
    assert {name: values[name] for name in MARKETPLACE_FEATURES} == filled
