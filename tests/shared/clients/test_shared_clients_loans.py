"""shared.clients.loans against the real loans app, in process: the console's credential plus
the acting headers, each person with their own client; answers parse into the typed models,
loans' problems arrive as UpstreamProblem, and an answer that does not parse is a 502. The
proceeds reconciliation runs against loans beside a real escrow app (``tests.loans.proceeds_kit``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient

from services.loans import jobs
from services.loans.app import create_app
from services.loans.settings import LoansContext
from shared.auth import ACTING_PERSON_HEADER, ACTING_ROLE_HEADER, Role
from shared.clients.loans import MAX_IDS_PER_CALL, LoansClient, ProceedsReconciliation
from shared.clock import ManualClock
from shared.http_client import UpstreamProblem
from shared.jobs import run_queued_jobs
from shared.platform import ServiceContext
from tests.factories.loans import FARMER_FEATURES, ProductPayloadFactory
from tests.loans.kit import FakeScoring, LoansApi
from tests.loans.proceeds_kit import build_world
from tests.support import issue_key

DECLINE = {"land_area_ha": "0.4", "years_farming": 1}
POLICY = {
    "auto_approve_min_score": "600",
    "auto_approve_max_principal_minor": 2_000_000,
    "auto_decline_below_score": "520",
}


def forward_to(app_client: TestClient, request: httpx.Request) -> httpx.Response:
    """``request`` answered by the app behind ``app_client``, byte for byte."""
    answer = app_client.request(
        request.method,
        request.url.raw_path.decode("ascii"),
        content=request.content,
        headers={k: v for k, v in request.headers.items() if k != "host"},
    )
    return httpx.Response(
        answer.status_code,
        content=answer.content,
        headers={"content-type": answer.headers.get("content-type", "")},
    )


@dataclass
class Loans:
    """The loans app behind a network of MockTransports, and the console's key for it."""

    app_client: TestClient
    api: LoansApi
    console_key: str
    ctx: LoansContext
    paths: list[str] = field(default_factory=list)
    opened: list[httpx.Client] = field(default_factory=list)

    def forward(self, request: httpx.Request) -> httpx.Response:
        """What the console's HTTP client reaches: the loans app, byte for byte."""
        self.paths.append(request.url.raw_path.decode("ascii"))
        return forward_to(self.app_client, request)

    def http(self) -> httpx.Client:
        """An HTTP client whose network is the loans app (closed after the test)."""
        client = httpx.Client(base_url="http://loans.test", transport=httpx.MockTransport(self.forward))
        self.opened.append(client)
        return client

    def person(self, username: str, role: str) -> LoansClient:
        """The client the console builds for a signed-in person."""
        headers = {ACTING_PERSON_HEADER: username, ACTING_ROLE_HEADER: role}
        return LoansClient(self.http(), api_key=self.console_key, headers=headers, attempts=1)


@pytest.fixture
def loans(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> Iterator[Loans]:
    ctx = cast(LoansContext, make_ctx("loans"))
    app_client = client_for(create_app(ctx, scoring_client=FakeScoring().client()))
    keys = {
        name: issue_key(ctx, role)
        for name, role in (("manager", Role.CREDIT_MANAGER), ("admin", Role.ADMIN), ("admin2", Role.ADMIN))
    }
    world = Loans(app_client, LoansApi(app_client, keys), issue_key(ctx, Role.SERVICE, owner="console"), ctx)
    world.api.set_date("2026-03-02")
    yield world
    for http in world.opened:
        http.close()


def submit(client: LoansClient, product_id: str, borrower_id: str, key: str, **features: Any) -> Any:
    return client.submit_application(
        product_id=product_id,
        borrower_id=borrower_id,
        principal_minor=1_200_000,
        annual_interest_rate=Decimal("18"),
        number_of_repayments=6,
        disbursement_date=date(2026, 1, 15),
        features={**FARMER_FEATURES, **features},
        idempotency_key=key,
    )


def test_a_loan_from_quote_to_repayment_through_the_client(loans: Loans, clock: ManualClock) -> None:
    product_id = loans.api.product()["id"]
    alice, bob = loans.person("alice", "loan_officer"), loans.person("bob", "credit_manager")

    (product,) = alice.products()
    assert product == alice.product(product_id)
    assert (product.currency, product.max_principal_minor, product.maker_checker) == ("KES", 50_000_000, True)
    assert isinstance(product.terms, dict) and product.terms
    preview = alice.preview_schedule(
        terms=product_id,
        principal_minor=1_200_000,
        annual_interest_rate="18",
        number_of_repayments=6,
        disbursement_date=date(2026, 1, 15),
    )
    assert len(preview.rows) == 6 and preview.totals.principal_minor == 1_200_000
    assert sum(r.principal_minor for r in preview.rows) == 1_200_000 and preview.currency == "KES"

    borrower = alice.create_borrower(
        type="farmer", name="Wanjiru Kamau", national_id="KE-20001", region="Nakuru", idempotency_key="b-1"
    )
    again = alice.create_borrower(
        type="farmer", name="Wanjiru Kamau", national_id="KE-20001", region="Nakuru", idempotency_key="b-1"
    )
    assert again == borrower and borrower.phone is None
    assert alice.borrower(borrower.id) == borrower
    assert alice.borrowers(ids=[borrower.id, "unknown"]) == [borrower]
    assert alice.borrowers(national_id="KE-20001") == [borrower] == alice.borrowers()

    application = submit(alice, product_id, borrower.id, "a-1")
    assert application == submit(alice, product_id, borrower.id, "a-1")  # replayed, not a second one
    assert application.status == "scored" and application.submitted_by.startswith("person:alice:")
    assert application.annual_interest_rate == Decimal("18")
    assert application.score is not None
    assert (application.score.score, application.score.grade) == (Decimal("642.17"), "B")
    assert [r.code for r in application.score.reasons] == ["F05", "F01"]
    queue = alice.applications(
        status="scored",
        order="oldest",
        product_id=product_id,
        decision_hint="approve",
        grade="B",
        submitted_from=clock.now() - timedelta(minutes=1),
        submitted_to=clock.now() + timedelta(minutes=1),
    )
    assert queue == [application] == alice.applications(borrower_id=borrower.id)
    assert alice.applications(decision_hint="review") == []
    assert alice.applications(submitted_from=clock.now() + timedelta(minutes=1)) == []
    assert alice.application(application.id) == application

    # The same person in another role is still the submitter; another person approves.
    with pytest.raises(UpstreamProblem) as refused:
        loans.person("alice", "credit_manager").approve_application(application.id, idempotency_key="ap-0")
    assert refused.value.status == 403
    assert "person who submitted" in refused.value.problem["detail"]
    loan = bob.approve_application(application.id, note="good record", idempotency_key="ap-1")
    assert loan.status == "approved" and loan.approved_by.startswith("person:bob:credit_manager:via:")
    assert alice.application(application.id).decision is not None

    active = bob.disburse_loan(loan.id, on=date(2026, 1, 15), idempotency_key="d-1")
    assert active.status == "active" and active.disbursed_on == date(2026, 1, 15)
    schedule = alice.loan_schedule(loan.id)
    assert [r.number for r in schedule.rows] == [1, 2, 3, 4, 5, 6] and schedule.loan_id == loan.id
    first = schedule.rows[0]
    repayment = alice.post_repayment(
        loan.id,
        amount_minor=first.total_minor,
        on=first.due_date,
        external_id="mpesa-1",
        idempotency_key="r-1",
    )
    assert (repayment.kind, repayment.amount_minor, repayment.source) == (
        "repayment",
        first.total_minor,
        "borrower",
    )
    assert repayment.allocation is not None
    assert repayment.allocation.principal_minor == first.principal_minor
    assert repayment.created_by.startswith("person:alice:loan_officer:via:")
    assert alice.loan_transactions(loan.id) == [repayment]
    now = alice.loan(loan.id)
    assert now.outstanding.principal_minor == 1_200_000 - first.principal_minor
    assert [ln.id for ln in alice.loans(borrower_id=borrower.id)] == [loan.id]
    assert [ln.id for ln in alice.loans(status="closed")] == []

    assert alice.business_date().date == date(2026, 3, 2)
    par = alice.portfolio_par()
    assert par.as_of == date(2026, 3, 2)
    (kes,) = par.currencies
    assert kes.currency == "KES" and kes.total.loan_count == 1
    assert kes.by_product[0].product_id == product_id and isinstance(kes.total.par30.ratio, Decimal)
    csv = alice.portfolio_par_csv(as_of=date(2026, 3, 1))
    header, *lines = csv.splitlines()
    assert header.startswith("as_of,currency,product_id") and lines[-1].startswith("2026-03-01,KES,ALL,")

    auditor = loans.person("dave", "auditor")
    assert auditor.verify_audit().ok
    actors = {e.action: e.actor for e in auditor.audit_entries(subject=f"loan:{loan.id}")}
    assert actors["loan.approved"].startswith("person:bob:")
    assert actors["loan.repayment_posted"].startswith("person:alice:")


def test_reject_and_withdraw_through_the_client(loans: Loans) -> None:
    product_id = loans.api.product(maker_checker=False)["id"]
    alice, bob = loans.person("alice", "loan_officer"), loans.person("bob", "credit_manager")
    borrower = alice.create_borrower(type="enterprise", name="Coop", national_id="KE-77", idempotency_key="b")
    declined = submit(alice, product_id, borrower.id, "a-1", **DECLINE)
    assert declined.score is not None and declined.score.decision_hint == "decline"
    rejected = bob.reject_application(declined.id, note="thin file", idempotency_key="rj-1")
    assert rejected.status == "rejected" and rejected.decision is not None
    assert rejected.decision.note == "thin file"
    assert [r.code for r in rejected.adverse_action_reasons or []] == ["F04", "F05"]
    pending = submit(alice, product_id, borrower.id, "a-2")
    withdrawn = alice.withdraw_application(pending.id, idempotency_key="w-1")
    assert withdrawn.status == "withdrawn" and withdrawn.allowed_actions == []
    with pytest.raises(UpstreamProblem) as conflict:
        bob.approve_application(pending.id, idempotency_key="ap-1")
    assert conflict.value.status == 409 and conflict.value.problem["current_state"] == "withdrawn"


def test_loans_problems_arrive_as_upstream_problems(loans: Loans, clock: ManualClock) -> None:
    alice = loans.person("alice", "loan_officer")
    product_id = loans.api.product()["id"]
    with pytest.raises(UpstreamProblem) as missing:
        alice.application("nope")
    assert missing.value.status == 404
    # An id is one path segment: it cannot walk to another route.
    with pytest.raises(UpstreamProblem) as walked:
        alice.application("../products")
    assert walked.value.status == 404 and "%2F" in loans.paths[-1]
    with pytest.raises(UpstreamProblem) as invalid:
        alice.submit_application(
            product_id=product_id,
            borrower_id="nobody",
            principal_minor=99_000_000,
            annual_interest_rate="18",
            number_of_repayments=6,
            disbursement_date=date(2026, 1, 15),
            features=FARMER_FEATURES,
            idempotency_key="a-1",
        )
    assert invalid.value.status == 422
    assert {e["field"] for e in invalid.value.problem["errors"]} >= {"borrower_id"}
    with pytest.raises(UpstreamProblem) as bad_filter:
        alice.applications(submitted_from=clock.now(), submitted_to=clock.now() - timedelta(hours=1))
    assert bad_filter.value.status == 422
    assert bad_filter.value.problem["errors"][0]["field"] == "query.submitted_to"
    with pytest.raises(UpstreamProblem) as no_person:  # the console's key alone admits nothing
        LoansClient(loans.http(), api_key=loans.console_key).products()
    assert no_person.value.status == 403


def test_borrower_ids_go_a_hundred_per_call_in_the_order_asked(loans: Loans) -> None:
    alice = loans.person("alice", "loan_officer")
    made = [
        alice.create_borrower(
            type="farmer", name=f"F {i}", national_id=f"KE-{i:04d}", idempotency_key=f"b-{i}"
        )
        for i in range(3)
    ]
    unknown = [f"missing-{i}" for i in range(MAX_IDS_PER_CALL + 40)]
    asked = [made[2].id, *unknown[:120], made[0].id, made[2].id, *unknown[120:], made[1].id]
    before = len(loans.paths)
    assert [b.id for b in alice.borrowers(ids=asked)] == [made[2].id, made[0].id, made[1].id]
    calls = loans.paths[before:]
    assert len(calls) == 2 and all(c.startswith("/v1/borrowers?") for c in calls)
    assert alice.borrowers(ids=[]) == [] and len(loans.paths) == before + 2


def test_an_admin_sets_up_a_product_and_its_decision_policy(loans: Loans) -> None:
    admin, officer = loans.person("adam", "admin"), loans.person("alice", "loan_officer")
    body = ProductPayloadFactory(name="inputs, repaid from sales", allow_sale_proceeds=True)
    made = admin.create_product(body, idempotency_key="p-1")
    assert (made.name, made.currency, made.allow_sale_proceeds) == ("inputs, repaid from sales", "KES", True)
    assert made.created_by.startswith("person:adam:admin:via:")
    assert admin.create_product(body, idempotency_key="p-1") == made  # replayed: one product
    assert officer.products() == [made] and officer.product(made.id) == made

    assert admin.decision_policy(made.id) is None and admin.decision_policy_versions(made.id) == []
    first = admin.set_decision_policy(made.id, POLICY, idempotency_key="pol-1")
    assert (first.product_id, first.version) == (made.id, 1)
    assert first.created_by.startswith("person:adam:admin:")
    assert Decimal(str(first.rules["auto_approve_min_score"])) == Decimal(600)
    assert first.rules["auto_approve_max_principal_minor"] == 2_000_000
    assert first.rules["review_when_feature_defaulted"] is False  # loans stores every rule
    assert admin.decision_policy(made.id) == first
    second = admin.set_decision_policy(made.id, {**POLICY, "max_open_loans": 2}, idempotency_key="pol-2")
    assert second.version == 2 and second.rules["max_open_loans"] == 2
    assert officer.decision_policy(made.id) == second
    assert [p.version for p in officer.decision_policy_versions(made.id)] == [2, 1]

    # An application of the product is decided by version 2 (FakeScoring: 642.17, principal 1,200,000).
    borrower = officer.create_borrower(type="farmer", name="W K", national_id="KE-9", idempotency_key="b")
    decided = submit(officer, made.id, borrower.id, "a-1")
    assert decided.policy_decision is not None
    assert (decided.policy_decision.version, decided.policy_decision.outcome) == (2, "approve")
    assert decided.decision is not None and decided.decision.by == f"policy:{made.id}:v2"


def test_product_and_policy_problems_arrive_as_upstream_problems(loans: Loans) -> None:
    admin = loans.person("adam", "admin")
    with pytest.raises(UpstreamProblem) as refused:  # products are a manager's or an admin's
        loans.person("alice", "loan_officer").create_product(ProductPayloadFactory(), idempotency_key="p")
    assert refused.value.status == 403
    with pytest.raises(UpstreamProblem) as invalid:
        admin.create_product(ProductPayloadFactory(min_principal_minor=0), idempotency_key="p-0")
    assert (
        invalid.value.status == 422 and invalid.value.problem["errors"][0]["field"] == "min_principal_minor"
    )
    product_id = admin.create_product(ProductPayloadFactory(), idempotency_key="p-1").id
    with pytest.raises(UpstreamProblem) as reused:  # the same key with another body
        admin.create_product(ProductPayloadFactory(), idempotency_key="p-1")
    assert reused.value.status == 422
    with pytest.raises(UpstreamProblem) as unordered:
        admin.set_decision_policy(
            product_id, {**POLICY, "auto_decline_below_score": "700"}, idempotency_key="pol-1"
        )
    assert unordered.value.status == 422
    assert unordered.value.problem["errors"][0]["field"] == "auto_decline_below_score"
    assert admin.decision_policy(product_id) is None  # nothing was stored
    for unknown in ("nope", "../products"):
        with pytest.raises(UpstreamProblem) as missing:
            admin.decision_policy(unknown)
        assert missing.value.status == 404
    with pytest.raises(UpstreamProblem) as missing:
        admin.set_decision_policy("nope", POLICY, idempotency_key="pol-2")
    assert missing.value.status == 404


def test_the_business_date_moves_and_close_of_business_is_a_job_to_poll(loans: Loans) -> None:
    admin, auditor = loans.person("adam", "admin"), loans.person("dave", "auditor")
    moved = admin.move_business_date(date(2026, 3, 10), idempotency_key="d-1")
    assert (moved.date, moved.source, moved.last_cob_date) == (date(2026, 3, 10), "set", None)
    assert admin.move_business_date(date(2026, 3, 10), idempotency_key="d-1") == moved
    assert auditor.business_date() == moved
    with pytest.raises(UpstreamProblem) as too_far:  # a month at most per move
        admin.move_business_date(date(2026, 6, 1), idempotency_key="d-2")
    assert too_far.value.status == 422 and too_far.value.problem["errors"][0]["field"] == "date"
    with pytest.raises(UpstreamProblem) as not_admin:
        loans.person("bob", "credit_manager").move_business_date(date(2026, 3, 11), idempotency_key="d-3")
    assert not_admin.value.status == 403

    queued = admin.close_of_business(date(2026, 3, 10), idempotency_key="cob-1")
    assert (queued.kind, queued.status, queued.finished, queued.result) == (
        "loans.cob",
        "queued",
        False,
        None,
    )
    assert queued.created_by.startswith("person:adam:admin:")
    assert admin.close_of_business(date(2026, 3, 10), idempotency_key="cob-1").job_id == queued.job_id
    assert auditor.job(queued.job_id).status == "queued"
    assert run_queued_jobs(loans.ctx, jobs.job_handlers(loans.ctx)) == 1
    done = auditor.job(queued.job_id)
    assert (done.status, done.finished, done.error, done.attempt) == ("succeeded", True, None, 1)
    assert done.result is not None and done.result["business_date"] == "2026-03-10"
    assert done.finished_at is not None and done.progress["stage"] == "completed"
    assert admin.business_date().last_cob_date == date(2026, 3, 10)

    again = admin.close_of_business(idempotency_key="cob-2")  # default: the business date
    assert again.job_id != queued.job_id
    assert run_queued_jobs(loans.ctx, jobs.job_handlers(loans.ctx)) == 1
    rerun = admin.job(again.job_id)
    assert rerun.status == "succeeded" and rerun.result is not None and rerun.result["already_done"] is True

    officer = loans.person("alice", "loan_officer")
    for call in (
        lambda: officer.job(queued.job_id),
        lambda: officer.close_of_business(idempotency_key="cob-3"),
    ):
        with pytest.raises(UpstreamProblem) as refused:
            call()
        assert refused.value.status == 403
    with pytest.raises(UpstreamProblem) as missing:
        admin.job("nope")
    assert missing.value.status == 404


def test_the_proceeds_reconciliation_pages_by_loan_and_names_each_difference(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient], clock: ManualClock
) -> None:
    world = build_world(make_ctx, client_for, clock)
    world.loans.set_date("2026-03-02")
    transport = httpx.MockTransport(lambda request: forward_to(world.loans_client, request))
    with httpx.Client(base_url="http://loans.test", transport=transport) as http:
        auditor = LoansClient(http, api_key=world.loans.keys["auditor"], attempts=1, service="loans")
        assert auditor.reconcile_proceeds() == ProceedsReconciliation(
            differences=[], loans_checked=0, balanced=True, next_offset=None
        )
        product = world.linked_product(share_bps=5_000)
        swept = world.disbursed_loan(product["id"])  # seller-1: its releases sweep to this loan
        quiet = world.disbursed_loan(product["id"], party="seller-2")
        world.send_instructions()  # both assignments registered at escrow
        world.release_lot("A")  # 60,000 less the 1,500 fee: half of 58,500 swept, not yet at loans

        page = auditor.reconcile_proceeds()
        assert (page.loans_checked, page.balanced, page.next_offset) == (2, False, None)
        [difference] = page.differences
        assert (difference.loan_id, difference.kind, difference.escrow_minor) == (
            swept["id"],
            "sweep_without_repayment",
            29_250,
        )
        assert difference.event_id is not None and difference.detail
        first, second = sorted([swept["id"], quiet["id"]])
        head = auditor.reconcile_proceeds(limit=1)
        assert (head.loans_checked, head.next_offset) == (1, 1)
        tail = auditor.reconcile_proceeds(limit=1, offset=1)
        assert (tail.loans_checked, tail.next_offset) == (1, 2)  # a full page: there may be more
        past = auditor.reconcile_proceeds(limit=1, offset=2)
        assert (past.loans_checked, past.next_offset, past.balanced) == (0, None, True)
        assert [d.loan_id for d in head.differences + tail.differences] == [swept["id"]]
        assert head.balanced == (first != swept["id"]) and tail.balanced == (second != swept["id"])

        assert world.deliver_events() == 1  # the sweep reaches loans: a sale-proceeds repayment
        assert auditor.reconcile_proceeds().balanced
        with pytest.raises(UpstreamProblem) as refused:
            LoansClient(http, api_key=world.loans.keys["officer"]).reconcile_proceeds()
        assert refused.value.status == 403


@pytest.mark.parametrize(
    ("call", "answer"),
    [
        (lambda c: c.products(), {"not": "a list"}),
        (lambda c: c.application("a-1"), {"id": "a-1", "status": "scored"}),
        (lambda c: c.borrowers(ids=["b-1"]), [{"id": "b-1"}]),
        (lambda c: c.portfolio_par(), {"as_of": "yesterday", "currencies": []}),
        (lambda c: c.business_date(), "2026-03-02"),
        (lambda c: c.portfolio_par_csv(), {"as_of": "2026-03-02"}),
        (lambda c: c.decision_policy("p-1"), [{"product_id": "p-1", "version": "first"}]),
        (lambda c: c.job("j-1"), {"job_id": "j-1", "status": "queued"}),
        (lambda c: c.reconcile_proceeds(), {"differences": [], "loans_checked": 0}),
    ],
)
def test_an_answer_that_does_not_parse_is_a_502(call: Callable[[LoansClient], Any], answer: Any) -> None:
    with (
        httpx.Client(
            base_url="http://loans.test",
            transport=httpx.MockTransport(lambda r: httpx.Response(200, json=answer)),
        ) as http,
        pytest.raises(UpstreamProblem) as bad,
    ):
        call(LoansClient(http, api_key="k", service="loans"))
    assert bad.value.status == 502 and "unexpected answer to GET /v1/" in bad.value.problem["detail"]
    assert bad.value.service == "loans"


def test_an_answer_that_is_not_json_is_a_502() -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, text="<html>proxy</html>"))
    with (
        httpx.Client(base_url="http://loans.test", transport=transport) as http,
        pytest.raises(UpstreamProblem) as bad,
    ):
        LoansClient(http).approve_application("a-1", idempotency_key="k")
    assert bad.value.status == 502 and "POST /v1/applications/a-1/approve" in bad.value.problem["detail"]


@pytest.mark.parametrize(
    ("call", "path"),
    [
        (lambda c: c.create_product(ProductPayloadFactory(), idempotency_key="k"), "/v1/products"),
        (
            lambda c: c.set_decision_policy("p-1", POLICY, idempotency_key="k"),
            "/v1/products/p-1/decision-policy",
        ),
        (lambda c: c.move_business_date(date(2026, 3, 3), idempotency_key="k"), "/v1/business-date"),
        (lambda c: c.close_of_business(date(2026, 3, 3), idempotency_key="k"), "/v1/close-of-business"),
    ],
)
def test_an_unparsable_answer_to_an_admins_post_is_a_502(
    call: Callable[[LoansClient], Any], path: str
) -> None:
    transport = httpx.MockTransport(lambda r: httpx.Response(200, json={"id": "x", "version": None}))
    with (
        httpx.Client(base_url="http://loans.test", transport=transport) as http,
        pytest.raises(UpstreamProblem) as bad,
    ):
        call(LoansClient(http, service="loans"))
    assert (bad.value.status, bad.value.service) == (502, "loans")
    assert bad.value.problem["detail"].startswith(f"unexpected answer to POST {path}: ")
