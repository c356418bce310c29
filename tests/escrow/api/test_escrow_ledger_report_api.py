"""The ledger as the console's auditor page reads it: trial balance and verification.

The verification names its first problem, and reads each stored balance and its postings
in one snapshot: a payment committed while it runs is never reported as a discrepancy.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, text

from services.escrow.service import sandbox
from shared.platform import ServiceContext
from tests.escrow.kit import EscrowApi

CLEARING = "provider_clearing:sandbox:KES"


def test_a_tampered_balance_unbalances_the_trial_balance_and_is_named_first(
    api: EscrowApi, ctx: ServiceContext
) -> None:
    api.fund(api.create()["id"])
    clean = api.verify()
    assert clean["ok"] is True and clean["first_problem"] is None and clean["problems"] == []
    assert api.trial_balance()["balanced"] is True

    with ctx.db.unit_of_work() as session:  # someone edits a stored balance behind the ledger's back
        session.execute(
            text(
                "UPDATE ledger_accounts SET balance_minor = balance_minor + 7 "
                "WHERE kind = 'provider_clearing'"
            )
        )
    trial = api.trial_balance()
    assert trial["balanced"] is False
    assert trial["currencies"] == [{"currency": "KES", "debits_minor": 100_007, "credits_minor": 100_000}]
    clearing = next(a for a in trial["accounts"] if a["account"] == CLEARING)
    assert (clearing["debit_minor"], clearing["credit_minor"], clearing["may_go_negative"]) == (
        100_007,
        0,
        True,
    )
    report = api.verify()
    assert report["ok"] is False
    assert report["first_problem"] == f"{CLEARING}: stored balance 100007 but postings sum to 100000"
    assert report["problems"] == [report["first_problem"]]


@pytest.mark.postgres
@pytest.mark.usefixtures("postgres_only")
def test_a_payment_committed_during_verification_is_no_discrepancy(
    api: EscrowApi, ctx: ServiceContext
) -> None:
    api.fund(api.create()["id"])
    payment = api.post(f"/v1/escrows/{api.create()['id']}/fund", expect=202)
    fired: list[str] = []

    def commit_a_payment_between_statements(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # Right after verification first reads the postings (READ COMMITTED: each statement
        # sees what was committed when it began), another request books a payment.
        if fired or "ledger_postings" not in statement or "GROUP BY" not in statement:
            return
        fired.append(statement)
        with ctx.db.unit_of_work() as session:
            result = sandbox.confirm_payment(
                session, ctx, payment_id=payment["id"], outcome="confirmed", amount_minor=None, currency=None
            )
        assert result.status == "processed"

    event.listen(ctx.db.engine, "after_cursor_execute", commit_a_payment_between_statements)
    try:
        during = api.verify()
    finally:
        event.remove(ctx.db.engine, "after_cursor_execute", commit_a_payment_between_statements)
    assert fired, "verification never read the postings"
    assert during["ok"] is True and during["problems"] == [], during
    after = api.verify()
    assert after["ok"] is True and after["entries"] == 2
