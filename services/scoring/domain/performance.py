"""Performance monitoring: how scored loans turned out against what their scores predicted.

Definitions (``as_of`` is the report date; only outcomes that occurred on or before it count):

- a decision is a **loan** once scoring holds an outcome of it (each outcome carries the
  loan's ``disbursed_on``); decisions with no outcome count only towards approvals;
- **defaulted**: a ``dpd90`` or ``written_off`` outcome within 12 months of ``disbursed_on``
  (the default date is the earliest of them);
- **matured**: defaulted, or ``as_of`` at least 12 months after ``disbursed_on``;
- per grade: the realised default rate of the matured loans vs their mean predicted PD;
- AUC and KS of the predicted PD separating defaulted from not-defaulted matured loans
  (AUC 1.0: every defaulter had a higher PD than every non-defaulter; KS: the largest gap
  between the two groups' cumulative PD distributions, max(TPR - FPR));
- vintage curves: loans grouped by disbursement month; for each month k = 1..12 since
  disbursement that every loan of the vintage has reached by ``as_of``, the share of the
  vintage defaulted within k months;
- adverse-impact ratio (min/max group rate, ``monitoring.adverse_impact_ratio``) of the
  approve hints over all decisions with a monitoring group, and of not defaulting over the
  matured loans with one.

Every rate comes with its count. With too little data a figure is ``None`` and ``note`` says
why in plain words; nothing here raises for lack of data.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from services.scoring.domain.monitoring import AIR_THRESHOLD, adverse_impact_ratio
from services.scoring.domain.scale import GRADE_CUTOFFS, LOWEST_GRADE

GRADES: tuple[str, ...] = (*(g for g, _ in GRADE_CUTOFFS), LOWEST_GRADE)
DEFAULT_OUTCOMES = ("dpd90", "written_off")
HORIZON_MONTHS = 12


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when it is shorter)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class ScoredLoan:
    """One decision and what became of it (``disbursed_on`` None: no outcome known)."""

    score_id: str
    grade: str
    pd: float
    decision_hint: str
    monitoring_group: str | None = None
    disbursed_on: date | None = None
    outcomes: Mapping[str, date] = field(default_factory=dict)


@dataclass(frozen=True)
class LoanStatus:
    """A loan as of the report date: its default date (if any within 12 months), matured or not."""

    default_on: date | None
    matured: bool


def loan_status(loan: ScoredLoan, as_of: date) -> LoanStatus | None:
    """None for a decision that is not (yet) a known loan."""
    if loan.disbursed_on is None or loan.disbursed_on > as_of:
        return None
    horizon = add_months(loan.disbursed_on, HORIZON_MONTHS)
    defaults = [
        on for kind, on in loan.outcomes.items() if kind in DEFAULT_OUTCOMES and on <= as_of and on <= horizon
    ]
    default_on = min(defaults, default=None)
    return LoanStatus(default_on=default_on, matured=default_on is not None or as_of >= horizon)


def _rate(hits: int, count: int) -> float | None:
    return hits / count if count else None


def _grades(matured: list[tuple[ScoredLoan, LoanStatus]]) -> list[dict[str, Any]]:
    rows = []
    for grade in GRADES:
        members = [(loan, status) for loan, status in matured if loan.grade == grade]
        defaulted = sum(status.default_on is not None for _, status in members)
        rows.append(
            {
                "grade": grade,
                "matured": len(members),
                "defaulted": defaulted,
                "default_rate": _rate(defaulted, len(members)),
                "mean_pd": float(np.mean([loan.pd for loan, _ in members])) if members else None,
                "note": None if members else "no matured loans of this grade",
            }
        )
    return rows


def _discrimination(matured: list[tuple[ScoredLoan, LoanStatus]]) -> dict[str, Any]:
    labels = np.array([status.default_on is not None for _, status in matured], dtype=int)
    pds = np.array([loan.pd for loan, _ in matured], dtype=np.float64)
    defaulted, total = int(labels.sum()), len(matured)
    out: dict[str, Any] = {"matured": total, "defaulted": defaulted, "auc": None, "ks": None, "note": None}
    if defaulted == 0 or defaulted == total:
        out["note"] = (
            "AUC and KS need matured loans that defaulted and matured loans that did not"
            f" ({defaulted} of {total} matured loans defaulted)"
        )
        return out
    fpr, tpr, _ = roc_curve(labels, pds)
    out["auc"] = float(roc_auc_score(labels, pds))
    out["ks"] = float(np.max(tpr - fpr))
    return out


def _vintages(loans: list[tuple[ScoredLoan, LoanStatus]], as_of: date) -> list[dict[str, Any]]:
    by_month: dict[str, list[tuple[ScoredLoan, LoanStatus]]] = {}
    for loan, status in loans:
        assert loan.disbursed_on is not None
        by_month.setdefault(loan.disbursed_on.strftime("%Y-%m"), []).append((loan, status))
    out = []
    for month in sorted(by_month):
        members = by_month[month]
        latest = max(loan.disbursed_on for loan, _ in members if loan.disbursed_on is not None)
        points = []
        for k in range(1, HORIZON_MONTHS + 1):
            if add_months(latest, k) > as_of:
                break
            hits = 0
            for loan, status in members:
                assert loan.disbursed_on is not None
                hits += status.default_on is not None and status.default_on <= add_months(
                    loan.disbursed_on, k
                )
            points.append({"months": k, "defaulted": hits, "default_rate": hits / len(members)})
        out.append(
            {
                "vintage": month,
                "loans": len(members),
                "curve": points,
                "note": None if points else "no loan of this vintage is a month old yet",
            }
        )
    return out


def _adverse_impact(flags: list[bool], groups: list[str], what: str) -> dict[str, Any]:
    if len(set(groups)) < 2:
        return {
            "ratio": None,
            "flagged": None,
            "rates": {},
            "counts": {},
            "threshold": AIR_THRESHOLD,
            "note": f"the adverse-impact ratio of {what} needs at least two monitoring groups",
        }
    return {**adverse_impact_ratio(flags, groups).to_dict(), "note": None}


def performance_report(loans: Sequence[ScoredLoan], as_of: date) -> dict[str, Any]:
    """The performance report of ``loans`` (decisions, most with outcomes) as of ``as_of``.

    The same loans in any order give the same figures, to the last bit (taken by score id)."""
    loans = sorted(loans, key=lambda loan: loan.score_id)
    known = [(loan, status) for loan in loans if (status := loan_status(loan, as_of)) is not None]
    matured = [(loan, status) for loan, status in known if status.matured]
    grouped = [loan for loan in loans if loan.monitoring_group is not None]
    matured_grouped = [(loan, status) for loan, status in matured if loan.monitoring_group is not None]
    notes = []
    if not known:
        notes.append("no outcomes are known yet for these decisions")
    elif not matured:
        notes.append("no loan has matured yet (12 months since disbursement, or a default)")
    return {
        "as_of": as_of.isoformat(),
        "decisions": len(loans),
        "loans": len(known),
        "matured": len(matured),
        "grades": _grades(matured),
        "discrimination": _discrimination(matured),
        "vintages": _vintages(known, as_of),
        "adverse_impact": {
            "approvals": _adverse_impact(
                [loan.decision_hint == "approve" for loan in grouped],
                [str(loan.monitoring_group) for loan in grouped],
                "approvals",
            ),
            "outcomes": _adverse_impact(
                [status.default_on is None for _, status in matured_grouped],
                [str(loan.monitoring_group) for loan, _ in matured_grouped],
                "outcomes (not defaulting)",
            ),
        },
        "note": " ".join(notes) or None,
    }
