"""What the season left: outcomes at scoring, portfolio at risk, the proceeds reconciliation,
the model's performance against outcomes, and every service's audit verification."""

from __future__ import annotations

import datetime as dt

from services.demo.cast import CURRENCY, PRODUCT_NAME
from services.demo.clients import System
from services.demo.progress import DemoStopped, Progress, money, percent
from services.demo.season import Borrowing
from shared.clients.loans import ProceedsReconciliation
from shared.clients.platform import PlatformClient

RECONCILE_PAGE = 200
"""Loans per page of the proceeds reconciliation (the most loans serves in one)."""
OUTCOME_WORDS = {
    "repaid": "repaid",
    "dpd30": "30 days past due",
    "dpd60": "60 days past due",
    "dpd90": "90 days past due (a default)",
    "written_off": "written off",
}


def _recorded(system: System, score_id: str) -> list[tuple[str, str]]:
    entries = system.auditor.scoring.audit_entries(subject=f"score:{score_id}", limit=100)
    return [
        (str(e.payload.get("outcome")), str(e.payload.get("occurred_on")))
        for e in entries
        if e.action == "score.outcome_recorded" and e.payload
    ]


def outcomes_at_scoring(
    system: System, progress: Progress, borrowings: list[Borrowing], *, wait: float
) -> None:
    """Wait until scoring holds each loan's outcomes so far (loans sends them, the worker delivers)."""
    for borrowing in borrowings:
        loan, score_id = borrowing.loan, borrowing.score_id
        expected = _expected_outcomes(loan.status, loan.days_past_due)
        if score_id is None or not expected:
            continue

        def arrived(score_id: str = score_id, want: set[str] = expected) -> list[tuple[str, str]] | None:
            found = _recorded(system, score_id)
            return found if want <= {outcome for outcome, _ in found} else None

        recorded = progress.wait_for(
            f"{borrowing.member.name}'s outcome to reach scoring", arrived, timeout=wait
        )
        words = ", ".join(
            f"{OUTCOME_WORDS.get(o, o)} on {on}" for o, on in sorted(recorded, key=lambda x: x[1])
        )
        progress.line(f"{borrowing.member.name} (score {score_id[:8]}…): {words}")


def _expected_outcomes(status: str, days_past_due: int) -> set[str]:
    if status == "closed":
        return {"repaid"}
    return {f"dpd{n}" for n in (30, 60, 90) if days_past_due >= n}


def portfolio_at_risk(system: System, progress: Progress) -> None:
    """PAR1/30/90 of the whole book and of the demo's product."""
    report = system.auditor.loans.portfolio_par()
    for block in report.currencies:
        if block.currency != CURRENCY:
            continue
        rows = [("all products", block.total)]
        rows += [(p.product_name, p) for p in block.by_product if p.product_name == PRODUCT_NAME]
        for label, par in rows:
            outstanding = money(par.outstanding_principal_minor, CURRENCY)
            at_risk = money(par.par30.at_risk_principal_minor, CURRENCY)
            ratios = ", ".join(
                f"PAR{f.threshold_days} {percent(f.ratio)}" for f in (par.par1, par.par30, par.par90)
            )
            progress.line(
                f"{label}: {par.loan_count} loan(s), {outstanding} principal outstanding; {ratios} "
                f"({par.par30.loans_at_risk} loan(s), {at_risk} at 30 days or more)"
            )
    progress.line(f"as of {report.as_of}")


def _reconcile(system: System) -> ProceedsReconciliation:
    loans = system.auditor.loans
    page = loans.reconcile_proceeds(limit=RECONCILE_PAGE)
    result = ProceedsReconciliation(
        differences=list(page.differences),
        loans_checked=page.loans_checked,
        balanced=page.balanced,
        next_offset=None,
    )
    while page.next_offset is not None:
        page = loans.reconcile_proceeds(limit=RECONCILE_PAGE, offset=page.next_offset)
        result.differences += page.differences
        result.loans_checked += page.loans_checked
        result.balanced = result.balanced and page.balanced
    return result


def proceeds_reconciliation(system: System, progress: Progress, *, wait: float) -> None:
    """Loans' sale-proceeds repayments against escrow's sweeps, loan by loan (balanced, or stop)."""
    last: list[ProceedsReconciliation] = []

    def balanced() -> ProceedsReconciliation | None:
        last[:] = [_reconcile(system)]
        return last[0] if last[0].balanced else None

    try:
        result = progress.wait_for("loans and escrow to agree on every sweep", balanced, timeout=wait)
    except DemoStopped:
        differences = "; ".join(f"loan {d.loan_id} [{d.kind}]: {d.detail}" for d in last[0].differences)
        raise DemoStopped(f"the proceeds reconciliation is not balanced: {differences}") from None
    progress.line(
        f"{result.loans_checked} loan(s) checked: balanced, every sweep matches loans' repayments and refunds"
    )
    progress.line("(the same check from the command line: agrifin reconcile proceeds)")


def performance(system: System, progress: Progress, *, as_of: dt.date) -> None:
    """The farmer model's realised default rate against its predicted PD, as of the business date."""
    report = system.auditor.scoring.performance("farmer", as_of=as_of)
    progress.line(
        f"farmer segment as of {report.as_of}: {report.decisions} decisions, {report.loans} with outcomes "
        f"from loans, {report.matured} matured"
    )
    for grade in report.grades:
        if grade.matured or grade.defaulted:
            realised = percent(grade.default_rate) if grade.default_rate is not None else "-"
            predicted = percent(grade.mean_pd) if grade.mean_pd is not None else "-"
            progress.line(
                f"grade {grade.grade}: {grade.defaulted} of {grade.matured} defaulted ({realised}) "
                f"vs predicted {predicted}",
                indent=2,
            )
    disc = report.discrimination
    if disc.auc is not None:
        progress.line(f"AUC {disc.auc:.3f}, KS {disc.ks if disc.ks is None else f'{disc.ks:.3f}'}", indent=2)
    elif disc.note:
        progress.line(disc.note, indent=2)
    if report.note:
        progress.line(report.note, indent=2)


def audit_verification(system: System, progress: Progress) -> None:
    """Each service's audit chain, verified by the service; escrow's ledger recomputed."""
    chains: list[tuple[str, PlatformClient]] = [
        ("scoring", system.auditor.scoring),
        ("escrow", system.auditor.escrow),
        ("loans", system.auditor.loans),
        ("console", system.console),
    ]
    broken = []
    for name, client in chains:
        report = client.verify_audit()
        if report.ok:
            progress.line(f"{name}: ok ({report.entries} entries, head {report.head[:20]}…)")
        else:
            broken.append(name)
            progress.line(f"{name}: BROKEN at entry {report.first_broken_seq}: {report.reason}")
    ledger = system.auditor.escrow.verify_ledger()
    progress.line(
        f"escrow ledger: {'balanced' if ledger.ok else 'NOT balanced: ' + str(ledger.first_problem)} "
        f"({ledger.entries} entries, {ledger.postings} postings)"
    )
    if broken or not ledger.ok:
        raise DemoStopped(f"verification failed: {', '.join(broken) or 'escrow ledger'}")
