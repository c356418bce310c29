"""`agrifin demo`, twice, against the system `agrifin run` started from a fresh ./var; then
`agrifin reconcile proceeds` finds escrow's sweeps and loans' repayments balanced.

Each run is a season on loans' business date: the second reuses the cooperative, the farmers
and the product the first registered, and tells the next season (a new late payer). The
system is ``conftest.running_system``, shared with ``test_e2e_run`` (whose loan, if it ran
first, is in another currency and leaves the proceeds balanced)."""

from __future__ import annotations

import re

import pytest

from tests.e2e.system import GROUP, RunningSystem

pytestmark = pytest.mark.xdist_group(GROUP)

STORY = (
    "[9/9] Model performance against outcomes, and every audit trail verified",
    "approved by the product's decision policy v1 alone, no person involved",
    "submitted by officer (loan_officer)",
    "approved by manager (credit_manager): a second person (maker-checker)",
    "declined by the decision policy v1",
    "from the marketplace (escrow's trade summary): ",
    "escrow swept the lender's share",
    "to close the loan",
    "repaid on ",
    "90 days past due (a default)",
    "balanced, every sweep matches loans' repayments and refunds",
    "scoring: ok (",
    "escrow: ok (",
    "loans: ok (",
    "console: ok (",
    "escrow ledger: balanced",
)


def _season(output: str) -> str:
    found = re.search(r"the season starting (\d{4}-\d{2}-\d{2})", output)
    assert found, output
    return found.group(1)


def test_demo_runs_twice_then_proceeds_reconcile(running_system: RunningSystem) -> None:
    first = running_system.agrifin("demo")
    assert first.returncode == 0, first.stdout + first.stderr
    second = running_system.agrifin("demo")
    assert second.returncode == 0, second.stdout + second.stderr
    reconcile = running_system.agrifin("reconcile", "proceeds")

    for run in (first, second):
        missing = [line for line in STORY if line not in run.stdout]
        assert not missing, f"missing {missing} in:\n{run.stdout}"
        assert "Traceback" not in run.stdout + run.stderr
        assert "demo stopped" not in run.stdout + run.stderr
    assert "Kilimo Bora Cooperative (enterprise): registered" in first.stdout
    assert "Kilimo Bora Cooperative (enterprise): found by national id" in second.stdout
    assert "Wanjiru Kamau (farmer): found by national id" in second.stdout
    assert "Kiprop Chebet" in first.stdout and "Kiprop Chebet" not in second.stdout  # a new late payer
    assert _season(second.stdout) > _season(first.stdout)
    assert reconcile.returncode == 0, reconcile.stdout + reconcile.stderr
    assert "balanced" in reconcile.stdout
