"""Performance monitoring computed by hand on small sets: default rates per grade, AUC, KS,
vintages, adverse impact, and null figures with a note when data is short."""

from __future__ import annotations

from datetime import date

import pytest

from services.scoring.domain.performance import (
    LoanStatus,
    ScoredLoan,
    add_months,
    loan_status,
    performance_report,
)

JAN = date(2025, 1, 10)
AS_OF = date(2026, 3, 1)


def loan(
    n: int,
    grade: str,
    pd: float,
    outcomes: dict[str, date] | None = None,
    *,
    disbursed: date | None = JAN,
    group: str | None = None,
    hint: str = "approve",
) -> ScoredLoan:
    return ScoredLoan(f"s{n}", grade, pd, hint, group, disbursed, outcomes or {})


def test_add_months_keeps_the_day_or_the_last_of_a_shorter_month() -> None:
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2025, 11, 15), 3) == date(2026, 2, 15)


def test_defaulted_and_matured_follow_the_12_month_horizon() -> None:
    late = loan(1, "C", 0.1, {"dpd90": date(2026, 1, 11)})  # 12 months and a day: not a default
    status = loan_status(late, AS_OF)
    assert status is not None and status.default_on is None and status.matured
    young = loan(2, "C", 0.1, {"dpd30": date(2025, 12, 1)}, disbursed=date(2025, 10, 1))
    status = loan_status(young, AS_OF)
    assert status is not None and status.default_on is None and not status.matured
    early = loan(3, "C", 0.1, {"written_off": date(2025, 12, 1), "dpd90": date(2025, 11, 1)}, disbursed=None)
    assert loan_status(early, AS_OF) is None
    defaulted = loan(4, "C", 0.1, {"written_off": date(2025, 6, 1), "dpd90": date(2025, 4, 1)})
    assert loan_status(defaulted, date(2025, 5, 1)) == LoanStatus(default_on=date(2025, 4, 1), matured=True)
    # an outcome after the report date is not known yet
    assert loan_status(defaulted, date(2025, 3, 1)) == LoanStatus(default_on=None, matured=False)


def test_rates_per_grade_and_a_perfectly_separated_set() -> None:
    loans = [
        loan(1, "A", 0.02, {"repaid": date(2025, 7, 1)}),
        loan(2, "A", 0.04, {"repaid": date(2025, 8, 1)}),
        loan(3, "A", 0.03, {"repaid": date(2025, 9, 1)}),
        loan(4, "D", 0.30, {"dpd90": date(2025, 5, 1)}),
        loan(5, "D", 0.20, {"repaid": date(2025, 6, 1)}),
        loan(6, "E", 0.50, {"written_off": date(2025, 9, 1)}),
        loan(7, "E", 0.40, {"dpd30": date(2026, 1, 1)}, disbursed=date(2025, 12, 1)),  # not matured
        loan(8, "B", 0.05, disbursed=None),  # no outcome: a decision, not a loan
    ]
    report = performance_report(loans, AS_OF)
    assert (report["decisions"], report["loans"], report["matured"]) == (8, 7, 6)
    grades = {row["grade"]: row for row in report["grades"]}
    assert grades["A"] == {
        "grade": "A",
        "matured": 3,
        "defaulted": 0,
        "default_rate": 0.0,
        "mean_pd": pytest.approx(0.03),
        "note": None,
    }
    assert (grades["D"]["matured"], grades["D"]["defaulted"], grades["D"]["default_rate"]) == (2, 1, 0.5)
    assert grades["D"]["mean_pd"] == pytest.approx(0.25)
    assert (grades["E"]["matured"], grades["E"]["default_rate"], grades["E"]["mean_pd"]) == (1, 1.0, 0.5)
    assert grades["B"]["default_rate"] is None and grades["B"]["mean_pd"] is None and grades["B"]["note"]
    # defaulters (0.30, 0.50) above every non-defaulter (0.02..0.20)
    assert report["discrimination"] == {"matured": 6, "defaulted": 2, "auc": 1.0, "ks": 1.0, "note": None}
    assert report["note"] is None


def test_auc_and_ks_of_an_overlapping_set() -> None:
    # defaulters 0.3, 0.1; non-defaulters 0.2, 0.05: of 4 pairs 3 are ordered right → AUC 0.75;
    # at threshold 0.3: TPR 1/2, FPR 0; at 0.2: 1/2, 1/2; at 0.1: 1, 1/2 → KS 0.5
    loans = [
        loan(1, "C", 0.3, {"dpd90": date(2025, 5, 1)}),
        loan(2, "C", 0.1, {"written_off": date(2025, 6, 1)}),
        loan(3, "C", 0.2, {"repaid": date(2025, 6, 1)}),
        loan(4, "C", 0.05, {"repaid": date(2025, 6, 1)}),
    ]
    discrimination = performance_report(loans, AS_OF)["discrimination"]
    assert discrimination["auc"] == pytest.approx(0.75) and discrimination["ks"] == pytest.approx(0.5)


def test_vintage_curves_are_cumulative_by_month_since_disbursement() -> None:
    loans = [
        loan(1, "C", 0.1, {"dpd90": date(2025, 2, 20)}),  # defaulted within 2 months
        loan(2, "C", 0.1, {"dpd90": date(2025, 4, 5)}, disbursed=date(2025, 1, 20)),  # within 3
        loan(3, "C", 0.1, {"repaid": date(2025, 6, 1)}),
        loan(4, "C", 0.1, {"repaid": date(2025, 6, 1)}),
        loan(5, "C", 0.1, {"dpd30": date(2025, 12, 20)}, disbursed=date(2025, 11, 15)),
    ]
    vintages = {v["vintage"]: v for v in performance_report(loans, date(2025, 12, 31))["vintages"]}
    january = vintages["2025-01"]
    assert january["loans"] == 4 and len(january["curve"]) == 11  # 2025-01-20 + 12 months > as_of
    assert [p["defaulted"] for p in january["curve"][:4]] == [0, 1, 2, 2]
    assert january["curve"][2] == {"months": 3, "defaulted": 2, "default_rate": 0.5}
    assert vintages["2025-11"]["loans"] == 1 and vintages["2025-11"]["curve"] == [
        {"months": 1, "defaulted": 0, "default_rate": 0.0}
    ]


def test_adverse_impact_on_approvals_and_on_outcomes() -> None:
    loans = [
        loan(1, "A", 0.02, {"repaid": date(2025, 7, 1)}, group="north"),
        loan(2, "A", 0.02, {"repaid": date(2025, 7, 1)}, group="north"),
        loan(3, "D", 0.3, {"dpd90": date(2025, 5, 1)}, group="south", hint="review"),
        loan(4, "A", 0.02, {"repaid": date(2025, 7, 1)}, group="south"),
        loan(5, "E", 0.5, group="south", hint="decline", disbursed=None),
    ]
    impact = performance_report(loans, AS_OF)["adverse_impact"]
    approvals = impact["approvals"]
    assert approvals["counts"] == {"north": 2, "south": 3}
    assert approvals["rates"] == {"north": 1.0, "south": pytest.approx(1 / 3)}
    assert approvals["ratio"] == pytest.approx(1 / 3) and approvals["flagged"] is True
    outcomes = impact["outcomes"]
    assert outcomes["counts"] == {"north": 2, "south": 2} and outcomes["ratio"] == 0.5


def test_too_little_data_gives_null_figures_and_notes_not_errors() -> None:
    empty = performance_report([], AS_OF)
    assert empty["note"] == "no outcomes are known yet for these decisions"
    assert empty["discrimination"]["auc"] is None and empty["discrimination"]["note"]
    assert all(row["default_rate"] is None for row in empty["grades"])
    assert empty["adverse_impact"]["approvals"]["ratio"] is None
    assert empty["adverse_impact"]["approvals"]["note"]
    assert empty["vintages"] == []
    all_good = [loan(i, "A", 0.02, {"repaid": date(2025, 7, 1)}) for i in range(3)]
    report = performance_report(all_good, AS_OF)
    assert report["discrimination"]["auc"] is None
    assert "0 of 3 matured loans defaulted" in report["discrimination"]["note"]
    young = performance_report(
        [loan(1, "A", 0.02, {"dpd30": date(2026, 2, 1)}, disbursed=date(2026, 1, 5))], AS_OF
    )
    assert young["matured"] == 0 and "no loan has matured yet" in young["note"]
