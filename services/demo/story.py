"""The story in order, one numbered step each, against the running system.

A run is a *season* named by loans' business date when it starts. Borrowers and the product
are found and reused; orders and applications are the season's own (their references and
Idempotency-Keys name it); the season moves the business date forward, so a second run tells
the next season over the same cooperative — with a new late payer, because the first one's
arrears would (rightly) send any new application of theirs to a person.
"""

from __future__ import annotations

import datetime as dt

import httpx

from services.demo.cast import (
    COOPERATIVE,
    FARMERS,
    POLICY,
    PRODUCT_NAME,
    SALE_PROCEEDS_SHARE_BPS,
    Member,
    late_payer,
)
from services.demo.clients import System, connect
from services.demo.lending import decide, describe_score, ensure_borrower, ensure_product, submit
from services.demo.market import describe_trade, sell
from services.demo.people import load_people
from services.demo.progress import DemoStopped, Progress, money
from services.demo.reports import (
    audit_verification,
    outcomes_at_scoring,
    performance,
    portfolio_at_risk,
    proceeds_reconciliation,
)
from services.demo.season import Borrowing, assignment_of, run_season
from services.demo.settings import DemoSettings
from shared.clients.escrow import Assignment
from shared.clients.loans import Loan
from shared.clients.platform import PlatformClient

STEPS = 9
SWEPT = "assignment.swept"
OUTCOME = "loan.outcome"


def tell(settings: DemoSettings) -> None:
    """Run the whole story once."""
    system = connect(settings, load_people(settings.var_dir))
    try:
        _tell(system, settings)
    finally:
        system.close()


def _check_ready(system: System, settings: DemoSettings) -> None:
    for name, client in system.http.items():
        url = getattr(settings, f"{name}_url")
        try:
            response = client.get("/readyz")
        except httpx.HTTPError:
            raise DemoStopped(f"{name} does not answer at {url}: start the system first (make run)") from None
        if response.status_code != 200:
            raise DemoStopped(f"{name} at {url} is not ready ({response.status_code}): {response.text[:200]}")


def _listening(client: PlatformClient, topic: str) -> bool:
    family = topic.split(".")[0] + ".*"
    return any(s.active and {topic, family, "*"} & set(s.topics) for s in client.subscriptions())


def _wait_for_subscriptions(system: System, progress: Progress, *, wait: float) -> None:
    """The worker subscribes loans to escrow's sweeps and scoring to loans' outcomes at start."""
    admin = system.admin
    progress.wait_for(
        "loans to subscribe to escrow's sweeps", lambda: _listening(admin.escrow, SWEPT), timeout=wait
    )
    progress.wait_for(
        "scoring to subscribe to loans' outcomes", lambda: _listening(admin.loans, OUTCOME), timeout=wait
    )


def _late_payer(system: System, start: dt.date) -> Member:
    """This season's late payer: the first of the roster with no loan yet (or one of this season)."""
    loans = system.officer.loans
    for index in range(1000):
        member = late_payer(index)
        found = loans.borrowers(national_id=member.national_id, limit=1)
        if not found:
            return member
        theirs = loans.loans(borrower_id=found[0].id, limit=5)
        if not theirs or any(loan.disbursed_on in (None, start) for loan in theirs):
            return member
    raise DemoStopped("every late payer of the roster already has a loan")


def _tell(system: System, settings: DemoSettings) -> None:
    progress, wait = Progress(STEPS), settings.wait_seconds
    _check_ready(system, settings)
    _wait_for_subscriptions(system, progress, wait=wait)
    start = system.admin.loans.business_date().date
    season = start.isoformat()
    people = (system.officer, system.manager, system.admin, system.auditor)
    progress.line(f"agrifin demo: the season starting {season} (loans' business date)", indent=0)
    urls = ", ".join(f"{name} {getattr(settings, f'{name}_url')}" for name in system.http)
    progress.line(f"services: {urls}", indent=0)
    progress.line(
        "people: " + ", ".join(f"{d.person.name} ({d.person.role.value})" for d in people), indent=0
    )

    progress.step("A cooperative, its farmers and a loan product")
    product, version = ensure_product(system)
    progress.line(
        f"product {PRODUCT_NAME!r}: {SALE_PROCEEDS_SHARE_BPS / 100:g}% of each sale repays the loan; "
        f"decision policy v{version}: approve at score >= {POLICY['auto_approve_min_score']} up to "
        f"{money(int(str(POLICY['auto_approve_max_principal_minor'])), product.currency)}, decline below "
        f"{POLICY['auto_decline_below_score']}, otherwise a person"
    )
    members = [FARMERS[0], FARMERS[1], _late_payer(system, start), FARMERS[2]]
    borrowers = {}
    for member in (COOPERATIVE, *members):
        borrower, existed = ensure_borrower(system, member)
        borrowers[member.slug] = borrower
        how = "found by national id" if existed else "registered"
        progress.line(f"{member.name} ({member.type}): {how}, marketplace party {member.party_id}")

    progress.step("Marketplace orders through escrow: the farmers' trade history")
    for member in members:
        for number in range(1, member.history_orders + 1):
            sell(
                system,
                progress,
                order_ref=f"demo-{season}-{member.slug}-order-{number}",
                seller=member,
                buyer=COOPERATIVE,
                amount_minor=member.order_minor,
                wait=wait,
            )
        summary = system.auditor.escrow.trade_summary(member.party_id)
        sold = (
            f"sold {member.history_orders} order(s) to the cooperative now; " if member.history_orders else ""
        )
        progress.line(f"{member.name}: {sold}{describe_trade(summary)}")

    progress.step("Scoring the farmers with their trade history")
    applications = {}
    for member in members:
        application = submit(
            system,
            progress,
            member=member,
            borrower=borrowers[member.slug],
            product=product,
            season=season,
            start=start,
            wait=wait,
        )
        applications[member.slug] = application
        progress.line(
            f"{member.name} asks for {money(member.loan_minor, product.currency)} ({member.part.value}):"
        )
        describe_score(progress, application)

    progress.step("Decisions: the policy alone, and a second person")
    borrowings: list[Borrowing] = []
    for member in members:
        progress.line(f"{member.name}:")
        application = system.officer.loans.application(applications[member.slug].id)
        loan = decide(system, progress, application, member=member, start=start, season=season)
        if loan is not None:
            score_id = application.score.id if application.score else None
            borrowings.append(Borrowing(member=member, loan=loan, score_id=score_id))
    for borrowing in borrowings:

        def registered(loan: Loan = borrowing.loan) -> Assignment | None:
            assignment = assignment_of(system, loan)
            return assignment if assignment is not None and assignment.status == "active" else None

        assignment = progress.wait_for(
            f"loans to register {borrowing.member.name}'s assignment of proceeds with escrow",
            registered,
            timeout=wait,
        )
        progress.line(
            f"escrow: {assignment.share_bps / 100:g}% of {borrowing.member.name}'s sales go to the lender, "
            f"up to {money(assignment.cap_minor, assignment.currency)}"
        )
    if not borrowings:
        raise DemoStopped("no loan was approved; the season has nothing to repay")

    progress.step("A season: sales sweep repayments, close of business ages the rest")
    end = run_season(system, progress, borrowings, season=season, wait=wait)

    progress.step("Outcomes flow back to scoring")
    outcomes_at_scoring(system, progress, borrowings, wait=wait)

    progress.step("Portfolio at risk")
    portfolio_at_risk(system, progress)

    progress.step("Proceeds reconciliation: escrow's sweeps against loans' repayments")
    proceeds_reconciliation(system, progress, wait=wait)

    progress.step("Model performance against outcomes, and every audit trail verified")
    performance(system, progress, as_of=end)
    audit_verification(system, progress)
    progress.blank()
    progress.line(
        f"Done in {progress.elapsed():.0f} s: the business date is now {end}; run `agrifin demo` again for "
        "the next season.",
        indent=0,
    )
