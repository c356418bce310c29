"""Application and loan state machines: which action is allowed when, and where it leads.

The tables below are the one source of truth: a use case asks ``check_application`` or
``check_loan`` before it changes anything (a refusal carries the actions that *are* allowed),
and every API answer offers ``allowed_*_actions`` derived from the same tables.

Application (actions people take; each is ``POST /v1/applications/{id}/<action>``)::

    action     from                                  to
    approve    scored                                approved   (creates the loan)
    reject     scored                                rejected
    withdraw   pending_score, scored, score_failed   withdrawn

Scoring outcomes (recorded by the service, never offered to people)::

    outcome    from            to
    scored     pending_score   scored
    refused    pending_score   score_failed   (scoring answered 422 on a retry)

A rule of ``approve``: approving over a score whose decision hint is ``decline`` needs a
note (``approval_refusal``); the action stays allowed, the note is what it asks for.

Loan (actions on the loan or its transactions)::

    action     from                                    to                route (/v1/loans/{id}/...)
    disburse   approved                                active            disburse
    repay      active, closed, overpaid, written_off   replayed status   repayments
    reverse    active, closed, overpaid, written_off   replayed status   transactions/{t}/reverse
    write_off  active                                  written_off       write-off

A transaction can be reversed once; a reversal cannot be reversed (``transaction_actions``).
"Replayed status" is what the account replay derives (``AccountStatus``): a repayment on a
closed loan makes it overpaid, one on a written-off loan is a recovery, a reversal can
reopen a closed loan.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class ApplicationStatus(StrEnum):
    """Where an application is in its life."""

    PENDING_SCORE = "pending_score"
    SCORED = "scored"
    SCORE_FAILED = "score_failed"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class ApplicationAction(StrEnum):
    """What a person can do to an application."""

    APPROVE = "approve"
    REJECT = "reject"
    WITHDRAW = "withdraw"


class ScoringOutcome(StrEnum):
    """What the scoring service's answer does to a pending application."""

    SCORED = "scored"
    REFUSED = "refused"


class LoanStatus(StrEnum):
    """Where a loan is in its life (after approval)."""

    APPROVED = "approved"
    ACTIVE = "active"
    CLOSED = "closed"
    OVERPAID = "overpaid"
    WRITTEN_OFF = "written_off"


class LoanAction(StrEnum):
    """What can be done to a loan (or its transactions)."""

    DISBURSE = "disburse"
    REPAY = "repay"
    REVERSE = "reverse"
    WRITE_OFF = "write_off"


_A, _L = ApplicationStatus, LoanStatus
_BOOKED = frozenset({_L.ACTIVE, _L.CLOSED, _L.OVERPAID, _L.WRITTEN_OFF})

_ApplicationRule = tuple[frozenset[ApplicationStatus], ApplicationStatus]

APPLICATION_TRANSITIONS: Mapping[ApplicationAction, _ApplicationRule] = {
    ApplicationAction.APPROVE: (frozenset({_A.SCORED}), _A.APPROVED),
    ApplicationAction.REJECT: (frozenset({_A.SCORED}), _A.REJECTED),
    ApplicationAction.WITHDRAW: (frozenset({_A.PENDING_SCORE, _A.SCORED, _A.SCORE_FAILED}), _A.WITHDRAWN),
}
"""action → (the statuses it is allowed from, the status it leads to)."""

SCORING_TRANSITIONS: Mapping[ScoringOutcome, _ApplicationRule] = {
    ScoringOutcome.SCORED: (frozenset({_A.PENDING_SCORE}), _A.SCORED),
    ScoringOutcome.REFUSED: (frozenset({_A.PENDING_SCORE}), _A.SCORE_FAILED),
}
"""scoring outcome → (the statuses it applies to, the status it leads to)."""

LOAN_TRANSITIONS: Mapping[LoanAction, tuple[frozenset[LoanStatus], LoanStatus | None]] = {
    LoanAction.DISBURSE: (frozenset({_L.APPROVED}), _L.ACTIVE),
    LoanAction.REPAY: (_BOOKED, None),
    LoanAction.REVERSE: (_BOOKED, None),
    LoanAction.WRITE_OFF: (frozenset({_L.ACTIVE}), _L.WRITTEN_OFF),
}
"""action → (the statuses it is allowed from, the status it leads to; None: the replay decides)."""


class ActionRefused(ValueError):
    """An action the current status does not allow; names the status and what is allowed."""

    def __init__(self, subject: str, status: str, action: str, allowed: tuple[str, ...]) -> None:
        self.status, self.action, self.allowed = status, action, allowed
        offered = ", ".join(allowed) if allowed else "none"
        super().__init__(f"cannot {action.replace('_', ' ')} {subject} that is {status} (allowed: {offered})")


def allowed_application_actions(status: ApplicationStatus | str) -> tuple[ApplicationAction, ...]:
    """The actions a person may take on an application in ``status``, in table order."""
    current = ApplicationStatus(status)
    return tuple(action for action, (sources, _) in APPLICATION_TRANSITIONS.items() if current in sources)


def allowed_loan_actions(status: LoanStatus | str) -> tuple[LoanAction, ...]:
    """The actions allowed on a loan in ``status``, in table order."""
    current = LoanStatus(status)
    return tuple(action for action, (sources, _) in LOAN_TRANSITIONS.items() if current in sources)


def check_application(status: ApplicationStatus | str, action: ApplicationAction) -> ApplicationStatus:
    """The status ``action`` leads to, or ``ActionRefused`` naming what is allowed."""
    sources, target = APPLICATION_TRANSITIONS[action]
    current = ApplicationStatus(status)
    if current not in sources:
        allowed = tuple(a.value for a in allowed_application_actions(current))
        raise ActionRefused("an application", current.value, action.value, allowed)
    return target


def scoring_outcome(status: ApplicationStatus | str, outcome: ScoringOutcome) -> ApplicationStatus | None:
    """The status a scoring outcome moves an application to; None when it no longer applies."""
    sources, target = SCORING_TRANSITIONS[outcome]
    return target if ApplicationStatus(status) in sources else None


def check_loan(status: LoanStatus | str, action: LoanAction) -> LoanStatus | None:
    """The status ``action`` leads to (None: the replay decides), or ``ActionRefused``."""
    sources, target = LOAN_TRANSITIONS[action]
    current = LoanStatus(status)
    if current not in sources:
        allowed = tuple(a.value for a in allowed_loan_actions(current))
        raise ActionRefused("a loan", current.value, action.value, allowed)
    return target


def transaction_actions(*, kind: str, reversed: bool) -> tuple[LoanAction, ...]:
    """What may be done to one transaction: reverse it, unless it is a reversal or reversed."""
    return () if kind == "reversal" or reversed else (LoanAction.REVERSE,)


def approval_refusal(*, decision_hint: str | None, note: str | None) -> str | None:
    """Why ``approve`` is refused for these arguments (a decline hint needs a note), else None."""
    if decision_hint == "decline" and not note:
        return "the score's decision hint is decline; approving over it needs a note"
    return None
