"""Fixtures for the escrow API tests: a migrated escrow database, the app, keys per role."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.escrow.app import create_app
from shared.auth import Role
from shared.platform import ServiceContext
from tests.escrow.kit import EscrowApi
from tests.support import issue_key


@pytest.fixture
def ctx(make_ctx: Callable[[str], ServiceContext]) -> ServiceContext:
    return make_ctx("escrow")


@pytest.fixture
def app(ctx: ServiceContext) -> FastAPI:
    return create_app(ctx)


@pytest.fixture
def keys(ctx: ServiceContext) -> dict[str, str]:
    roles = {
        "market": (Role.MARKETPLACE, "shop-1"),
        "market2": (Role.MARKETPLACE, "shop-2"),
        "admin": (Role.ADMIN, None),
        "auditor": (Role.AUDITOR, None),
        "service": (Role.SERVICE, "loans"),  # loans' credential, the one service escrow admits
        "officer": (Role.LOAN_OFFICER, None),
    }
    return {name: issue_key(ctx, role, owner) for name, (role, owner) in roles.items()}


@pytest.fixture
def client(app: FastAPI, client_for: Callable[..., TestClient]) -> TestClient:
    return client_for(app)


@pytest.fixture
def api(client: TestClient, ctx: ServiceContext, keys: dict[str, str]) -> EscrowApi:
    return EscrowApi(client, ctx, keys)
