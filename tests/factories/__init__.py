"""factory-boy factories, one module per service (``tests/factories/<service>.py``).

Factories that write rows bind to a test's session through ``bind_session`` so that the
objects they build go into the database the test's ServiceContext points at.
"""

from __future__ import annotations

from typing import Any

import factory
from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy.orm import Session


def bind_session(*factories: type[SQLAlchemyModelFactory], session: Session) -> None:
    """Point SQLAlchemy model factories at ``session`` (flushing, never committing)."""
    for model_factory in factories:
        model_factory._meta.sqlalchemy_session = session
        model_factory._meta.sqlalchemy_session_persistence = "flush"


class ApiKeySpecFactory(factory.DictFactory):
    """Arguments for ``shared.auth.create_api_key`` (role, owner, label)."""

    role = "loan_officer"
    owner: Any = None
    label = factory.Sequence(lambda n: f"test-key-{n}")
