"""The application and loan state machines as tables: what each status allows, where it leads."""

from __future__ import annotations

import pytest

from services.loans.domain.lifecycle import (
    APPLICATION_TRANSITIONS,
    LOAN_TRANSITIONS,
    ActionRefused,
    ApplicationAction,
    ApplicationStatus,
    LoanAction,
    LoanStatus,
    ScoringOutcome,
    allowed_application_actions,
    allowed_loan_actions,
    approval_refusal,
    check_application,
    check_loan,
    scoring_outcome,
    transaction_actions,
)

A, L = ApplicationStatus, LoanStatus
AA, LA = ApplicationAction, LoanAction

APPLICATION_TABLE = {
    A.PENDING_SCORE: (AA.WITHDRAW,),
    A.SCORED: (AA.APPROVE, AA.REJECT, AA.WITHDRAW),
    A.SCORE_FAILED: (AA.WITHDRAW,),
    A.APPROVED: (),
    A.REJECTED: (),
    A.WITHDRAWN: (),
}
LOAN_TABLE = {
    L.APPROVED: (LA.DISBURSE,),
    L.ACTIVE: (LA.REPAY, LA.REVERSE, LA.WRITE_OFF),
    L.CLOSED: (LA.REPAY, LA.REVERSE),
    L.OVERPAID: (LA.REPAY, LA.REVERSE),
    L.WRITTEN_OFF: (LA.REPAY, LA.REVERSE),
}


def test_every_status_is_in_the_tables() -> None:
    assert set(APPLICATION_TABLE) == set(ApplicationStatus)
    assert set(LOAN_TABLE) == set(LoanStatus)


@pytest.mark.parametrize("status", list(ApplicationStatus))
def test_allowed_application_actions(status: ApplicationStatus) -> None:
    assert allowed_application_actions(status) == APPLICATION_TABLE[status]
    assert allowed_application_actions(status.value) == APPLICATION_TABLE[status]


@pytest.mark.parametrize("status", list(LoanStatus))
def test_allowed_loan_actions(status: LoanStatus) -> None:
    assert allowed_loan_actions(status) == LOAN_TABLE[status]


@pytest.mark.parametrize("status", list(ApplicationStatus))
@pytest.mark.parametrize("action", list(ApplicationAction))
def test_check_application_agrees_with_allowed(status: ApplicationStatus, action: ApplicationAction) -> None:
    if action in allowed_application_actions(status):
        assert check_application(status, action) is APPLICATION_TRANSITIONS[action][1]
    else:
        with pytest.raises(ActionRefused) as refused:
            check_application(status, action)
        assert refused.value.status == status.value
        assert refused.value.allowed == tuple(a.value for a in APPLICATION_TABLE[status])
        assert status.value in str(refused.value)


@pytest.mark.parametrize("status", list(LoanStatus))
@pytest.mark.parametrize("action", list(LoanAction))
def test_check_loan_agrees_with_allowed(status: LoanStatus, action: LoanAction) -> None:
    if action in allowed_loan_actions(status):
        assert check_loan(status, action) is LOAN_TRANSITIONS[action][1]
    else:
        with pytest.raises(ActionRefused) as refused:
            check_loan(status, action)
        assert refused.value.allowed == tuple(a.value for a in LOAN_TABLE[status])


def test_where_the_actions_lead() -> None:
    assert check_application(A.SCORED, AA.APPROVE) is A.APPROVED
    assert check_application(A.SCORED, AA.REJECT) is A.REJECTED
    assert check_application(A.SCORE_FAILED, AA.WITHDRAW) is A.WITHDRAWN
    assert check_loan(L.APPROVED, LA.DISBURSE) is L.ACTIVE
    assert check_loan(L.ACTIVE, LA.WRITE_OFF) is L.WRITTEN_OFF
    assert check_loan(L.CLOSED, LA.REPAY) is None  # the replay decides (overpaid)


def test_scoring_outcomes_apply_to_pending_applications_only() -> None:
    assert scoring_outcome(A.PENDING_SCORE, ScoringOutcome.SCORED) is A.SCORED
    assert scoring_outcome(A.PENDING_SCORE, ScoringOutcome.REFUSED) is A.SCORE_FAILED
    for status in set(ApplicationStatus) - {A.PENDING_SCORE}:
        assert scoring_outcome(status, ScoringOutcome.SCORED) is None
        assert scoring_outcome(status, ScoringOutcome.REFUSED) is None


def test_approve_over_a_decline_hint_needs_a_note() -> None:
    assert approval_refusal(decision_hint="decline", note=None) is not None
    assert approval_refusal(decision_hint="decline", note="") is not None
    assert approval_refusal(decision_hint="decline", note="known farmer") is None
    assert approval_refusal(decision_hint="review", note=None) is None
    assert approval_refusal(decision_hint=None, note=None) is None


def test_a_transaction_is_reversed_at_most_once() -> None:
    assert transaction_actions(kind="repayment", reversed=False) == (LA.REVERSE,)
    assert transaction_actions(kind="write_off", reversed=False) == (LA.REVERSE,)
    assert transaction_actions(kind="repayment", reversed=True) == ()
    assert transaction_actions(kind="reversal", reversed=False) == ()


def test_unknown_statuses_are_refused() -> None:
    with pytest.raises(ValueError):
        allowed_loan_actions("pending")
