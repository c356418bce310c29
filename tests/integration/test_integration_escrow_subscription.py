"""Loans subscribes itself to escrow's events through escrow's API (never escrow's tables).

The loans side (``services.loans.service.escrow_subscription``) talks to a real escrow app
over HTTP (an in-process TestClient is an ``httpx.Client``), with its own credential
(``service:loans``).
"""

from __future__ import annotations

import stat
from collections.abc import Callable

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.escrow.app import create_app as create_escrow_app
from services.loans.service.escrow_subscription import (
    TOPICS,
    build_escrow_client,
    ensure_escrow_subscription,
)
from services.loans.settings import ESCROW_SECRET_FILE, LoansSettings
from shared.auth import Role
from shared.clients.escrow import EscrowClient
from shared.http_client import ServiceUnreachable
from shared.platform import ServiceContext
from tests.support import issue_key


@pytest.fixture
def escrow_side(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> tuple[ServiceContext, EscrowClient]:
    escrow_ctx = make_ctx("escrow")
    key = issue_key(escrow_ctx, Role.SERVICE, owner="loans")  # loans' own credential
    return escrow_ctx, EscrowClient(client_for(create_escrow_app(escrow_ctx)), api_key=key)


def _settings(make_ctx: Callable[[str], ServiceContext], **update: object) -> LoansSettings:
    settings = make_ctx("loans").settings
    assert isinstance(settings, LoansSettings)
    return settings.model_copy(update=update)


def _active(escrow_ctx: ServiceContext) -> list[dict[str, object]]:
    t = escrow_ctx.tables.webhook_subscriptions
    with escrow_ctx.db.unit_of_work(read_only=True) as session:
        return [dict(r) for r in session.execute(select(t).where(t.c.active.is_(True))).mappings()]


def test_loans_subscribes_once_and_keeps_the_secret_private(
    make_ctx: Callable[[str], ServiceContext], escrow_side: tuple[ServiceContext, EscrowClient]
) -> None:
    escrow_ctx, escrow = escrow_side
    settings = _settings(make_ctx)

    first = ensure_escrow_subscription(settings, escrow)
    assert first.status == "subscribed"
    (sub,) = _active(escrow_ctx)
    assert sub["id"] == first.subscription_id and sub["url"] == settings.inbound_escrow_url
    assert sub["topics"] == '["assignment.swept"]' and TOPICS == ["assignment.swept"]
    secret_file = settings.var_dir / ESCROW_SECRET_FILE
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert settings.stored_escrow_subscription == (
        first.subscription_id,
        settings.resolved_escrow_webhook_secret,
    )
    assert settings.resolved_escrow_webhook_secret.startswith("whsec_")

    again = ensure_escrow_subscription(settings, escrow)
    assert (again.status, again.subscription_id) == ("present", first.subscription_id)
    assert len(_active(escrow_ctx)) == 1


def test_a_lost_secret_replaces_the_subscription(
    make_ctx: Callable[[str], ServiceContext], escrow_side: tuple[ServiceContext, EscrowClient]
) -> None:
    escrow_ctx, escrow = escrow_side
    settings = _settings(make_ctx)
    first = ensure_escrow_subscription(settings, escrow)
    (settings.var_dir / ESCROW_SECRET_FILE).unlink()

    second = ensure_escrow_subscription(settings, escrow)
    assert second.status == "subscribed" and second.subscription_id != first.subscription_id
    assert [s["id"] for s in _active(escrow_ctx)] == [second.subscription_id]
    assert settings.stored_escrow_subscription[0] == second.subscription_id


def test_a_subscription_loans_did_not_record_is_deactivated(
    make_ctx: Callable[[str], ServiceContext], escrow_side: tuple[ServiceContext, EscrowClient]
) -> None:
    """An answer lost after escrow subscribed: loans never saw that secret, so it starts over."""
    escrow_ctx, escrow = escrow_side
    settings = _settings(make_ctx)
    orphan = escrow.subscribe(url=settings.inbound_escrow_url, topics=TOPICS, idempotency_key="lost-answer")

    outcome = ensure_escrow_subscription(settings, escrow)
    assert outcome.status == "subscribed" and outcome.subscription_id != orphan.id
    assert [s["id"] for s in _active(escrow_ctx)] == [outcome.subscription_id]


def test_an_operator_configured_secret_means_loans_leaves_escrow_alone(
    make_ctx: Callable[[str], ServiceContext], escrow_side: tuple[ServiceContext, EscrowClient]
) -> None:
    escrow_ctx, escrow = escrow_side
    settings = _settings(make_ctx, escrow_webhook_secret="whsec_from_the_operator")
    assert ensure_escrow_subscription(settings, escrow).status == "configured"
    assert _active(escrow_ctx) == []


def test_escrow_down_is_reported_and_changes_nothing(make_ctx: Callable[[str], ServiceContext]) -> None:
    settings = _settings(make_ctx)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    escrow = build_escrow_client(settings, transport=httpx.MockTransport(refuse))
    with pytest.raises(ServiceUnreachable):
        ensure_escrow_subscription(settings, escrow)
    assert not (settings.var_dir / ESCROW_SECRET_FILE).exists()
