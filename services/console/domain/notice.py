"""The adverse-action notice a rejected applicant receives: what it says, in which words (pure).

The printable page and the PDF say the same things from one ``AdverseNotice`` and one set of
texts (``NOTICE_TEXTS``, translated where each is rendered): the applicant, the application,
the date and the decision, and the principal reasons in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from services.console.domain.catalogue import N_
from services.console.domain.scorecard import Reason


@dataclass(frozen=True)
class NoticeTexts:
    """The words of a notice (catalogue messages)."""

    title: str = N_("Notice of adverse action")
    intro: str = N_("We have decided not to approve the loan application described below.")
    applicant: str = N_("Applicant")
    national_id: str = N_("National id")
    application: str = N_("Application")
    product: str = N_("Product")
    amount: str = N_("Amount applied for")
    submitted: str = N_("Date of application")
    decided: str = N_("Date of decision")
    decision: str = N_("Decision")
    declined: str = N_("Declined")
    reasons: str = N_("The principal reasons for this decision")
    no_reasons: str = N_("The score gave no reason codes for this application.")
    closing: str = N_(
        "If you believe any of this information is wrong, contact your loan officer: "
        "you may ask for the decision to be reviewed."
    )


NOTICE_TEXTS = NoticeTexts()


@dataclass(frozen=True)
class AdverseNotice:
    """One rejected application's notice, personal data already shown as the reader may see it."""

    application_id: str
    applicant: str
    national_id: str | None
    product: str
    amount_minor: int
    currency: str
    submitted_on: date
    decided_on: date
    reasons: tuple[Reason, ...]

    @property
    def filename(self) -> str:
        """The PDF's file name."""
        return f"adverse-action-notice-{self.application_id}.pdf"


def person_of(actor: str) -> str:
    """The username in an actor (``person:<username>:<role>:via:<key>``), else the actor."""
    parts = actor.split(":")
    return parts[1] if len(parts) > 1 and parts[0] == "person" else actor


def day_of(moment: datetime) -> date:
    """The (UTC) calendar day of a time."""
    return moment.date()
