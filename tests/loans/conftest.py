"""Fixtures for the loans API tests: a migrated loans database, a fake scoring service,
the app, and one key per role (two credit managers, for maker-checker)."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.loans.app import create_app
from services.loans.settings import LoansContext
from shared.auth import Role
from shared.platform import ServiceContext
from tests.loans.kit import FakeScoring, LoansApi
from tests.support import issue_key


@pytest.fixture
def ctx(make_ctx: Callable[[str], ServiceContext]) -> LoansContext:
    return cast(LoansContext, make_ctx("loans"))


@pytest.fixture
def scoring() -> FakeScoring:
    return FakeScoring()


@pytest.fixture
def app(ctx: LoansContext, scoring: FakeScoring) -> FastAPI:
    return create_app(ctx, scoring_client=scoring.client())


@pytest.fixture
def keys(ctx: ServiceContext) -> dict[str, str]:
    roles = {
        "officer": Role.LOAN_OFFICER,
        "officer2": Role.LOAN_OFFICER,
        "manager": Role.CREDIT_MANAGER,
        "manager2": Role.CREDIT_MANAGER,
        "auditor": Role.AUDITOR,
        "admin": Role.ADMIN,
        "admin2": Role.ADMIN,
        "marketplace": Role.MARKETPLACE,
        "service": Role.SERVICE,
    }
    owners = {Role.MARKETPLACE: "shop-1", Role.SERVICE: "escrow"}  # service:escrow posts sale proceeds
    return {name: issue_key(ctx, role, owners.get(role)) for name, role in roles.items()}


@pytest.fixture
def api(app: FastAPI, client_for: Callable[..., TestClient], keys: dict[str, str]) -> LoansApi:
    return LoansApi(client_for(app, raise_server_exceptions=True), keys)
