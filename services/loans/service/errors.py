"""Domain errors turned into the problems the API answers."""

from __future__ import annotations

from services.loans.domain.lifecycle import ActionRefused
from shared.errors import Conflict, ValidationProblem


def domain_problem(exc: ValueError, field: str = "body") -> ValidationProblem:
    """A domain ``ValueError`` (a broken rule of the input) as a 422 problem naming ``field``."""
    return ValidationProblem([(field, str(exc))])


def action_refused(exc: ActionRefused) -> Conflict:
    """A state-machine refusal as a 409 carrying the status and the actions it allows."""
    return Conflict(str(exc), current_state=exc.status, allowed_actions=list(exc.allowed))
