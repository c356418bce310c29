"""A season on loans' business date: sales sweep repayments, farmers pay, close of business.

The business date moves forward (at most 31 days a request) to each due date of the loans'
schedule. There, the farmers who sell through the marketplace sell again — escrow sweeps the
lender's share of each release and the worker tells loans, which books it as a sale-proceeds
repayment — the paying farmers pay what is still due, and close of business ages the rest
(a job the worker runs; the demo polls it). One more month closes the season. Every move,
payment and close is keyed by the season and the date, so a repeated request changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from services.demo.cast import COOPERATIVE, Member
from services.demo.clients import System
from services.demo.market import sell
from services.demo.progress import DemoStopped, Progress, money
from shared.clients.escrow import Assignment
from shared.clients.loans import Job, Loan

MAX_MOVE_DAYS = 31
COB_ATTEMPTS = 3


@dataclass
class Borrowing:
    """A member's loan of this season."""

    member: Member
    loan: Loan
    score_id: str | None


def move_to(system: System, *, target: dt.date, season: str) -> dt.date:
    """Move the business date forward to ``target``, a month at most per request."""
    loans = system.admin.loans
    today = loans.business_date().date
    while today < target:
        step = min(target, today + dt.timedelta(days=MAX_MOVE_DAYS))
        today = loans.move_business_date(step, idempotency_key=f"demo:{season}:date:{step}").date
    return today


def close_of_business(system: System, progress: Progress, *, on: dt.date, season: str, wait: float) -> int:
    """Close every day up to ``on`` (a job the worker runs; its own daily close may take some of
    them first); how many days were closed since the last closed one."""
    loans = system.admin.loans
    before = loans.business_date().last_cob_date
    closed = (on - before).days if before is not None else 1
    error = "no reason given"
    for attempt in range(COB_ATTEMPTS):
        last = loans.business_date().last_cob_date
        if last is not None and last >= on:
            return max(closed, 0)
        queued = loans.close_of_business(on, idempotency_key=f"demo:{season}:cob:{on}:{attempt}")

        def finished(job_id: str = queued.job_id) -> Job | None:
            job = loans.job(job_id)
            return job if job.finished else None

        job = progress.wait_for(f"close of business up to {on}", finished, timeout=wait)
        if job.status == "succeeded":
            return max(closed, 0)
        error = job.error or error  # the worker's own daily close may have claimed a day first: ask again
    raise DemoStopped(f"close of business up to {on} did not complete: {error}")


def assignment_of(system: System, loan: Loan) -> Assignment | None:
    """The assignment of proceeds loans registered with escrow for ``loan`` (None: not yet)."""
    found = system.auditor.escrow.list_assignments(loan_ref=loan.id, limit=5)
    return found[0] if found else None


def _sale_proceeds(system: System, loan: Loan) -> int:
    rows = system.auditor.loans.loan_transactions(loan.id)
    return sum(
        t.amount_minor
        for t in rows
        if t.kind == "repayment" and t.source == "sale_proceeds" and t.reversed_by_id is None
    )


def _sell_and_sweep(
    system: System, progress: Progress, borrowing: Borrowing, *, season: str, number: int, wait: float
) -> str:
    member, loan = borrowing.member, borrowing.loan
    sell(
        system,
        progress,
        order_ref=f"demo-{season}-{member.slug}-sale-{number}",
        seller=member,
        buyer=COOPERATIVE,
        amount_minor=member.season_sale_minor,
        wait=wait,
    )
    assignment = assignment_of(system, loan)
    if assignment is None or assignment.swept_minor == 0:
        return f"sold {money(member.season_sale_minor, loan.currency)}, nothing swept"
    swept = assignment.swept_minor

    def booked_in_loans() -> int | None:
        booked = _sale_proceeds(system, loan)
        return booked if booked >= swept else None

    booked = progress.wait_for(
        f"the sweep of {member.name}'s sale to reach loans", booked_in_loans, timeout=wait
    )
    return (
        f"sold {money(member.season_sale_minor, loan.currency)}; escrow swept the lender's share, "
        f"{money(booked, loan.currency)} repaid from sales so far"
    )


def _pay_due(system: System, borrowing: Borrowing, *, on: dt.date, last: bool, season: str) -> str:
    loans, loan = system.officer.loans, borrowing.loan
    if last:
        due = loans.loan(loan.id).outstanding.total_minor
    else:
        due = sum(r.outstanding_minor for r in loans.loan_schedule(loan.id).rows if r.due_date <= on)
    if due <= 0:
        return "nothing left due"
    loans.post_repayment(
        loan.id,
        amount_minor=due,
        on=on,
        external_id=f"demo-{season}-{borrowing.member.slug}-{on}",
        idempotency_key=f"demo:{season}:repay:{loan.id}:{on}",
    )
    return f"paid {money(due, loan.currency)} {'to close the loan' if last else 'still due'}"


def run_season(
    system: System, progress: Progress, borrowings: list[Borrowing], *, season: str, wait: float
) -> dt.date:
    """Walk the season's due dates and one month after; the business date it ends on."""
    schedule = system.auditor.loans.loan_schedule(borrowings[0].loan.id).rows
    due_dates = [row.due_date for row in schedule]
    for number, due in enumerate(due_dates, start=1):
        today = move_to(system, target=due, season=season)
        progress.line(f"{today} (due date {number} of {len(due_dates)})")
        for borrowing in borrowings:
            member, parts = borrowing.member, []
            if member.season_sale_minor:
                parts.append(
                    _sell_and_sweep(system, progress, borrowing, season=season, number=number, wait=wait)
                )
            if member.pays_installments:
                parts.append(
                    _pay_due(system, borrowing, on=today, last=number == len(due_dates), season=season)
                )
            else:
                parts.append("paid nothing")
            progress.line(f"{member.name}: {'; '.join(parts)}", indent=2)
        closed = close_of_business(system, progress, on=today, season=season, wait=wait)
        progress.line(f"close of business: {closed} day(s) closed up to {today}", indent=2)
        _show_arrears(system, progress, borrowings)
    end = move_to(system, target=due_dates[-1] + dt.timedelta(days=MAX_MOVE_DAYS), season=season)
    closed = close_of_business(system, progress, on=end, season=season, wait=wait)
    progress.line(f"{end} (a month after the last due date): close of business closed {closed} day(s)")
    _show_arrears(system, progress, borrowings)
    return end


def _show_arrears(system: System, progress: Progress, borrowings: list[Borrowing]) -> None:
    for borrowing in borrowings:
        loan = system.auditor.loans.loan(borrowing.loan.id)
        borrowing.loan = loan
        if loan.status != "active" or loan.days_past_due:
            state = loan.status if loan.status != "active" else f"{loan.days_past_due} days past due"
            owed = money(loan.outstanding.total_minor, loan.currency)
            progress.line(
                f"{borrowing.member.name}'s loan: {state} ({loan.delinquency_bucket}), owes {owed}", indent=2
            )
