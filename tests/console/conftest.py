"""Console fixtures: ``world`` — the three services in-process with champions registered, the
console over them (``tests.console.kit``). The scoring models are trained once per session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import cast

import pytest
from fastapi.testclient import TestClient

from services.console.app import create_app as create_console_app
from services.console.settings import ConsoleContext
from services.escrow.app import create_app as create_escrow_app
from services.loans.app import create_app as create_loans_app
from services.loans.service.scoring import ScoringClient
from services.scoring.app import create_app as create_scoring_app
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.synthetic import generate
from services.scoring.domain.training import train_model
from services.scoring.repository.artifacts import build_store
from services.scoring.repository.specs import load_segment_spec
from services.scoring.service.registry import register_model
from services.scoring.settings import ScoringContext
from shared.auth import Role
from shared.platform import ServiceContext
from tests.console.kit import World, forwarding
from tests.support import issue_key

TRAIN_ROWS = 3000
TRAIN_SEED = 7
API_ROLES = (Role.LOAN_OFFICER, Role.CREDIT_MANAGER, Role.AUDITOR, Role.ADMIN)


@pytest.fixture(scope="session")
def console_models() -> dict[str, TrainedModel]:
    """A small farmer and enterprise model, trained once per session."""
    return {
        segment: train_model(
            load_segment_spec(segment), generate(segment, TRAIN_ROWS, TRAIN_SEED), seed=TRAIN_SEED
        )
        for segment in ("farmer", "enterprise")
    }


@pytest.fixture
def world(
    make_ctx: Callable[[str], ServiceContext],
    client_for: Callable[..., TestClient],
    console_models: dict[str, TrainedModel],
) -> Iterator[World]:
    """Scoring (with champions), escrow and loans in-process; the console calling them over HTTP."""
    contexts = {name: make_ctx(name) for name in ("scoring", "escrow", "loans")}
    scoring_ctx = cast(ScoringContext, contexts["scoring"])
    store = build_store(scoring_ctx)
    with scoring_ctx.db.unit_of_work() as session:
        for segment, model in console_models.items():
            register_model(
                session,
                scoring_ctx,
                store,
                model=model,
                actor="test:setup",
                data_source=f"synthetic:{segment}:rows={TRAIN_ROWS}:seed={TRAIN_SEED}",
            )
    keys = {name: {role: issue_key(ctx, role) for role in API_ROLES} for name, ctx in contexts.items()}
    console_key = issue_key(contexts["scoring"], Role.SERVICE, "console")
    for name in ("escrow", "loans"):
        issue_key(contexts[name], Role.SERVICE, "console", key=console_key)
    loans_key = issue_key(contexts["scoring"], Role.SERVICE, "loans")
    apps: dict[str, TestClient] = {}
    apps["scoring"] = client_for(create_scoring_app(scoring_ctx), raise_server_exceptions=False)
    apps["escrow"] = client_for(create_escrow_app(contexts["escrow"]), raise_server_exceptions=False)
    scoring_for_loans = ScoringClient(forwarding(apps["scoring"]), api_key=loans_key, attempts=1)
    apps["loans"] = client_for(
        create_loans_app(contexts["loans"], scoring_client=scoring_for_loans), raise_server_exceptions=False
    )
    console_ctx = cast(ConsoleContext, make_ctx("console"))
    console_ctx.settings = console_ctx.settings.model_copy(update={"api_key": console_key})
    http = {name: forwarding(client) for name, client in apps.items()}
    console_app = create_console_app(console_ctx, http=http)

    def make_console() -> TestClient:
        return client_for(console_app, raise_server_exceptions=False)

    yield World(console_ctx=console_ctx, contexts=contexts, apps=apps, keys=keys, make_console=make_console)
    for client in http.values():
        client.close()
