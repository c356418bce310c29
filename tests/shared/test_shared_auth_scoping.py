"""Key scoping (issue 9): every key acts for its owner only, and each service for itself.

A marketplace key always has an owner and cannot see or change another marketplace's escrows;
a service key is one calling service's credential (``service:loans``), admitted only where
that caller needs it; a key of either role without an owner can be neither created nor used;
subscriptions cover only what the subscriber may see.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.escrow.app import create_app as escrow_app
from services.loans.app import create_app as loans_app
from services.scoring.app import create_app as scoring_app
from shared.auth import Role, create_api_key, hash_api_key, require_roles, revoke_api_key
from shared.clock import ManualClock
from shared.errors import Conflict
from shared.platform import ServiceContext
from shared.webhook_delivery import dispatch_events
from tests.escrow.kit import EscrowApi
from tests.factories.escrow import AssignmentPayloadFactory
from tests.factories.scoring import ScoreRequestFactory
from tests.loans.kit import FakeScoring
from tests.support import assert_problem, auth, issue_key

APPS: dict[str, Callable[[ServiceContext], FastAPI]] = {
    "scoring": scoring_app,
    "escrow": escrow_app,
    "loans": lambda ctx: loans_app(ctx, scoring_client=FakeScoring().client()),
}
HOOK = {"url": "https://subscriber.example/hook", "topics": ["*"]}


def _keys(ctx: ServiceContext) -> dict[str, str]:
    specs = {
        "market": (Role.MARKETPLACE, "shop-1"),
        "market2": (Role.MARKETPLACE, "shop-2"),
        "admin": (Role.ADMIN, None),
        "auditor": (Role.AUDITOR, None),
        "officer": (Role.LOAN_OFFICER, None),
        "service:loans": (Role.SERVICE, "loans"),
        "service:escrow": (Role.SERVICE, "escrow"),
        "service:scoring": (Role.SERVICE, "scoring"),
    }
    return {name: issue_key(ctx, role, owner) for name, (role, owner) in specs.items()}


@pytest.fixture
def escrow(make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]) -> EscrowApi:
    ctx = make_ctx("escrow")
    return EscrowApi(client_for(escrow_app(ctx)), ctx, _keys(ctx))


def _store_ownerless(ctx: ServiceContext, role: Role, key: str) -> None:
    """A key as one could be stored before owners were required (bypassing create_api_key)."""
    with ctx.db.unit_of_work() as session:
        session.execute(
            ctx.tables.api_keys.insert().values(
                id=f"legacy-{role.value}",
                key_hash=hash_api_key(key),
                prefix=key[:12],
                role=role.value,
                owner=None,
                label="legacy",
                created_at=ctx.clock.now(),
                revoked_at=None,
            )
        )


# ---------------------------------------------------------------- keys without an owner


@pytest.mark.parametrize("role", [Role.MARKETPLACE, Role.SERVICE])
def test_an_ownerless_marketplace_or_service_key_cannot_be_created(
    make_ctx: Callable[[str], ServiceContext], role: Role
) -> None:
    ctx = make_ctx("escrow")
    for owner in (None, "", " shop-1"):
        with pytest.raises(ValueError), ctx.db.unit_of_work() as session:
            create_api_key(session, ctx.tables, role=role, owner=owner, label=None, now=ctx.clock.now())
    with ctx.db.unit_of_work(read_only=True) as session:
        assert session.execute(select(ctx.tables.api_keys.c.id)).first() is None


@pytest.mark.parametrize("service", sorted(APPS))
def test_a_stored_ownerless_marketplace_or_service_key_is_refused_everywhere(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient], service: str
) -> None:
    ctx = make_ctx(service)
    client = client_for(APPS[service](ctx))
    for role in (Role.MARKETPLACE, Role.SERVICE):
        key = f"agf_legacy_{role.value}_0123456789abcdef"
        _store_ownerless(ctx, role, key)
        for method, path in (("GET", "/v1/webhooks"), ("POST", "/v1/webhooks")):
            response = client.request(method, path, json=HOOK, headers=auth(key))
            assert "bound to no owner" in assert_problem(response, 403)["detail"]
    if service == "escrow":
        key = "agf_legacy_marketplace_0123456789abcdef"
        assert_problem(client.get("/v1/escrows", headers=auth(key)), 403)
        assert_problem(client.post("/v1/escrows", json={}, headers=auth(key)), 403)


def test_a_route_cannot_admit_every_service() -> None:
    with pytest.raises(ValueError, match="by name"):
        require_roles(Role.ADMIN, Role.SERVICE)


# ---------------------------------------------------------------- marketplaces


def test_another_marketplaces_escrow_is_invisible_and_unchangeable(escrow: EscrowApi) -> None:
    mine = escrow.create(key="market")
    assert mine["marketplace"] == "shop-1"
    assert [e["id"] for e in escrow.get("/v1/escrows", key="market")["escrows"]] == [mine["id"]]

    assert escrow.get("/v1/escrows", key="market2")["escrows"] == []
    escrow.get(f"/v1/escrows/{mine['id']}", key="market2", expect=404)
    escrow.get(f"/v1/escrows/{mine['id']}/entries", key="market2", expect=404)
    escrow.post(f"/v1/escrows/{mine['id']}/cancel", key="market2", expect=404)
    escrow.post(f"/v1/escrows/{mine['id']}/fund", key="market2", expect=404)
    escrow.create(key="market2", marketplace="shop-1", expect=422)  # not in another's name
    assert escrow.escrow(mine["id"])["status"] == mine["status"]


@pytest.mark.parametrize("service", ["loans", "scoring"])
def test_a_marketplace_cannot_subscribe_on_loans_or_scoring(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient], service: str
) -> None:
    ctx = make_ctx(service)
    client = client_for(APPS[service](ctx))
    market = issue_key(ctx, Role.MARKETPLACE, "shop-1")
    for topics in (["*"], ["loan.approved"], ["score.created"]):
        response = client.post("/v1/webhooks", json={**HOOK, "topics": topics}, headers=auth(market))
        assert_problem(response, 403)
    assert_problem(client.get("/v1/webhooks", headers=auth(market)), 403)  # not a subscriber here at all
    assert client.get("/v1/webhooks", headers=auth(issue_key(ctx, Role.ADMIN))).json() == []


def test_a_marketplace_subscription_receives_its_own_escrows_events_only(
    escrow: EscrowApi, clock: ManualClock
) -> None:
    sub = escrow.post("/v1/webhooks", HOOK, key="market", expect=201)
    assert sub["owner"] == "shop-1"
    escrow.create(key="market")
    escrow.create(key="market2")
    assert dispatch_events(escrow.ctx.db, escrow.ctx.tables, now=clock.now()) == 2
    t, ev = escrow.ctx.tables.webhook_deliveries, escrow.ctx.tables.outbox
    with escrow.ctx.db.unit_of_work(read_only=True) as session:
        owners = session.execute(
            select(ev.c.owner).join(t, t.c.event_id == ev.c.id).where(t.c.subscription_id == sub["id"])
        ).scalars()
        assert list(owners) == ["shop-1"]

    # Neither its listing nor another marketplace's shows the other's subscriptions.
    loans_sub = escrow.post(
        "/v1/webhooks", {**HOOK, "topics": ["assignment.swept"]}, key="service:loans", expect=201
    )
    assert [s["id"] for s in _subscriptions(escrow, "market")] == [sub["id"]]
    assert _subscriptions(escrow, "market2") == []
    escrow.post(f"/v1/webhooks/{sub['id']}/deactivate", key="market2", expect=404)
    escrow.post(f"/v1/webhooks/{loans_sub['id']}/deactivate", key="market", expect=404)
    escrow.post(f"/v1/webhooks/{loans_sub['id']}/deactivate", key="market2", expect=404)


# ---------------------------------------------------------------- service credentials


def test_only_loans_creates_and_reads_assignments(escrow: EscrowApi) -> None:
    body = AssignmentPayloadFactory()
    for key in ("service:escrow", "service:scoring", "market", "auditor", "officer"):
        escrow.post("/v1/assignments", body, key=key, expect=403)
    created = escrow.post("/v1/assignments", body, key="service:loans", expect=201)
    for key in ("service:escrow", "service:scoring", "market"):
        escrow.get("/v1/assignments", key=key, expect=403)
        escrow.get(f"/v1/assignments/{created['id']}", key=key, expect=403)
    assert escrow.get(f"/v1/assignments/{created['id']}", key="service:loans")["id"] == created["id"]
    # No service reaches a marketplace's escrows.
    for key in ("service:loans", "service:escrow"):
        escrow.get("/v1/escrows", key=key, expect=403)
        escrow.create(key=key, marketplace="shop-1", expect=403)


def test_only_loans_scores_and_reads_scores(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> None:
    ctx = make_ctx("scoring")
    client = client_for(scoring_app(ctx))
    for name in ("escrow", "scoring"):
        key = issue_key(ctx, Role.SERVICE, name)
        body = assert_problem(client.post("/v1/scores", json=ScoreRequestFactory(), headers=auth(key)), 403)
        assert "service:loans" in body["allowed_roles"] and f"service:{name}" in body["detail"]
        assert_problem(client.get("/v1/scores/any", headers=auth(key)), 403)
        assert_problem(client.get("/v1/segments", headers=auth(key)), 403)
    loans = issue_key(ctx, Role.SERVICE, "loans")
    assert client.get("/v1/segments", headers=auth(loans)).status_code == 200


def test_only_escrows_credential_posts_repayments_at_loans(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient]
) -> None:
    ctx = make_ctx("loans")
    client = client_for(APPS["loans"](ctx))
    body = {"amount_minor": 100, "date": "2026-03-02", "external_id": "x-1", "source": "sale_proceeds"}
    for name in ("loans", "scoring"):
        key = issue_key(ctx, Role.SERVICE, name)
        assert_problem(client.post("/v1/loans/nope/repayments", json=body, headers=auth(key)), 403)
        assert_problem(client.get("/v1/business-date", headers=auth(key)), 403)
    escrow_key = issue_key(ctx, Role.SERVICE, "escrow")
    assert_problem(client.post("/v1/loans/nope/repayments", json=body, headers=auth(escrow_key)), 404)
    assert_problem(client.get("/v1/loans/nope", headers=auth(escrow_key)), 403)


def test_a_service_subscribes_only_to_the_topics_it_may_see(escrow: EscrowApi, clock: ManualClock) -> None:
    for topics in (["*"], ["escrow.*"], ["escrow.created"], ["assignment.swept", "escrow.funded"]):
        body = escrow.post("/v1/webhooks", {**HOOK, "topics": topics}, key="service:loans", expect=403)
        assert body["allowed_topics"] == ["assignment.*"]
    for key in ("service:escrow", "service:scoring"):
        escrow.post("/v1/webhooks", {**HOOK, "topics": ["assignment.swept"]}, key=key, expect=403)
    sub = escrow.post(
        "/v1/webhooks", {**HOOK, "topics": ["assignment.swept"]}, key="service:loans", expect=201
    )
    assert sub["owner"] is None  # every marketplace's sweeps: loans turns each into a repayment

    market = escrow.post("/v1/webhooks", HOOK, key="market", expect=201)
    everything = escrow.post("/v1/webhooks", HOOK, key="admin", expect=201)
    assert [s["id"] for s in _subscriptions(escrow, "service:loans")] == [sub["id"]]
    for other in (market, everything):
        escrow.post(f"/v1/webhooks/{other['id']}/deactivate", key="service:loans", expect=404)

    # What reaches it: sweeps (of shop-1's escrow), never the escrow's own events.
    escrow.post("/v1/assignments", AssignmentPayloadFactory(share_bps=5_000), key="service:loans", expect=201)
    order = escrow.create(key="market")
    escrow.fund(order["id"])
    escrow.ship_and_deliver(order["id"], "A")
    escrow.lot(order["id"], "A", "accept")
    dispatch_events(escrow.ctx.db, escrow.ctx.tables, now=clock.now())
    assert _delivered_topics(escrow, sub["id"]) == ["assignment.swept"]
    assert "escrow.funded" in _delivered_topics(escrow, market["id"])


@pytest.mark.parametrize("service", ["loans", "scoring"])
def test_no_service_subscribes_to_loans_or_scoring(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient], service: str
) -> None:
    ctx = make_ctx(service)
    client = client_for(APPS[service](ctx))
    for name in ("loans", "escrow", "scoring"):
        key = issue_key(ctx, Role.SERVICE, name)
        for topics in (["*"], ["assignment.swept"]):
            response = client.post("/v1/webhooks", json={**HOOK, "topics": topics}, headers=auth(key))
            assert_problem(response, 403)


def _subscriptions(escrow: EscrowApi, key: str) -> list[dict[str, Any]]:
    response = escrow.client.get("/v1/webhooks", headers=auth(escrow.keys[key]))
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()
    return listed


def _delivered_topics(escrow: EscrowApi, subscription_id: str) -> list[str]:
    t, ev = escrow.ctx.tables.webhook_deliveries, escrow.ctx.tables.outbox
    with escrow.ctx.db.unit_of_work(read_only=True) as session:
        query = (
            select(ev.c.topic)
            .join(t, t.c.event_id == ev.c.id)
            .where(t.c.subscription_id == subscription_id)
            .order_by(ev.c.created_at)
        )
        return list(session.execute(query).scalars())


# ---------------------------------------------------------------- revoking


def test_revoking_by_a_shared_prefix_revokes_nothing(make_ctx: Callable[[str], ServiceContext]) -> None:
    ctx = make_ctx("loans")
    with ctx.db.unit_of_work() as session:
        ids = [
            create_api_key(
                session,
                ctx.tables,
                role=Role.LOAN_OFFICER,
                owner=None,
                label=None,
                now=ctx.clock.now(),
                key=key,
            )[0]
            for key in ("agf_loan_abcFIRST", "agf_loan_abcSECOND")
        ]
    with pytest.raises(Conflict), ctx.db.unit_of_work() as session:
        revoke_api_key(session, ctx.tables, key_id="agf_loan_abc", now=ctx.clock.now())
    assert _active(ctx) == set(ids)
    with ctx.db.unit_of_work() as session:
        revoke_api_key(session, ctx.tables, key_id=ids[0], now=ctx.clock.now())
    assert _active(ctx) == {ids[1]}


def _active(ctx: ServiceContext) -> set[Any]:
    t = ctx.tables.api_keys
    with ctx.db.unit_of_work(read_only=True) as session:
        return set(session.execute(select(t.c.id).where(t.c.revoked_at.is_(None))).scalars())
