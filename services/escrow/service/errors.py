"""Domain errors turned into the problems the API answers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from services.escrow.domain.ledger import (
    InsufficientFundsError,
    LedgerError,
    UnknownAccountError,
)
from services.escrow.domain.model import (
    AmountError,
    InvalidTransitionError,
    UnknownLotError,
)
from shared.errors import Conflict, NotFound, ValidationProblem


@contextmanager
def domain_errors(*, amount_field: str = "amount_minor") -> Iterator[None]:
    """Translate escrow and ledger errors raised inside the block (amounts name ``amount_field``)."""
    try:
        yield
    except InvalidTransitionError as exc:
        raise Conflict(
            str(exc), current_state=exc.current_state, allowed_actions=[a.value for a in exc.allowed_actions]
        ) from exc
    except UnknownLotError as exc:
        raise NotFound(str(exc)) from exc
    except AmountError as exc:
        raise ValidationProblem([(amount_field, str(exc))]) from exc
    except InsufficientFundsError as exc:
        raise Conflict(
            str(exc),
            current_state="insufficient_funds",
            balance_minor=exc.normal_balance.minor,
            currency=exc.normal_balance.currency,
        ) from exc
    except UnknownAccountError as exc:
        raise NotFound(str(exc)) from exc
    except LedgerError as exc:
        raise ValidationProblem([(amount_field, str(exc))]) from exc
