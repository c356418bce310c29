"""A linked borrower's marketplace features come from escrow's trade summary (the real escrow and
scoring apps in process, over their HTTP APIs, each with loans' own credential).

Seller ``farmer-7`` in escrow: E1 (KES, lots of 60,000 and 40,000 delivered and accepted: 100,000
released, 2,500 fees, net 97,500 minor units = 975 KES) completed; E2 funded, lot A delivered and
disputed. So 2 escrows, 1 completed, dispute rate 0.5: ``marketplace_orders_12m`` 1,
``marketplace_volume_12m`` 975, ``marketplace_dispute_rate`` 0.5.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient

from services.escrow.app import create_app as create_escrow_app
from services.loans.app import create_app as create_loans_app
from services.loans.service.scoring_retry import retry_pending_scores
from services.loans.service.trade_history import escrow_client_factory
from services.loans.settings import LoansContext
from services.scoring import bootstrap as scoring_bootstrap
from services.scoring.app import create_app as create_scoring_app
from services.scoring.domain.synthetic import generate
from services.scoring.domain.training import train_model
from services.scoring.repository import registry as registry_repo
from services.scoring.repository.artifacts import build_store
from services.scoring.repository.specs import load_segment_spec
from services.scoring.service.registry import register_model
from services.scoring.settings import ScoringContext
from shared.auth import Role
from shared.clients.escrow import EscrowClient
from shared.clients.scoring import ScoringClient
from shared.clock import ManualClock
from shared.platform import ServiceContext
from tests.escrow.kit import EscrowApi
from tests.loans.kit import LoansApi
from tests.scoring.kit import disagreeing_applicant
from tests.support import auth, issue_key

SELLER = "farmer-7"
MARKETPLACE = ("marketplace_orders_12m", "marketplace_volume_12m", "marketplace_dispute_rate")
FILLED = {"marketplace_orders_12m": 1, "marketplace_volume_12m": 975, "marketplace_dispute_rate": 0.5}


def _forwarding(app: TestClient, outage: Outage) -> httpx.MockTransport:
    def forward(request: httpx.Request) -> httpx.Response:
        if outage.down:
            raise httpx.ConnectError("connection refused", request=request)
        outage.calls.append(request.url.path)
        answer = app.request(
            request.method,
            request.url.raw_path.decode("ascii"),
            content=request.content,
            headers=request.headers,
        )
        return httpx.Response(answer.status_code, content=answer.content, headers=answer.headers)

    return httpx.MockTransport(forward)


@dataclass
class Outage:
    """Takes a service down for loans (connection refused) and counts loans' calls to it."""

    down: bool = False
    calls: list[str] = field(default_factory=list)


@dataclass
class World:
    api: LoansApi
    ctx: LoansContext
    scoring_ctx: ScoringContext
    escrow_api: EscrowApi
    escrow: Outage
    scoring_outage: Outage
    scoring: ScoringClient
    escrow_client: EscrowClient
    scoring_app: TestClient
    example: dict[str, Any]
    clock: ManualClock

    def features(self, **given: Any) -> dict[str, Any]:
        """Scoring's example applicant without its marketplace features, plus ``given``."""
        return {**{k: v for k, v in self.example.items() if k not in MARKETPLACE}, **given}

    def retry(self) -> Any:
        self.clock.advance(timedelta(minutes=15))
        return retry_pending_scores(
            self.ctx, self.scoring, escrow=escrow_client_factory(self.ctx, self.escrow_client)
        )

    def decision(self, score_id: str) -> dict[str, Any]:
        key = issue_key(self.scoring_ctx, Role.AUDITOR)
        response = self.scoring_app.get(f"/v1/scores/{score_id}", headers=auth(key))
        assert response.status_code == 200, response.text
        return dict(response.json())


@pytest.fixture
def world(
    make_ctx: Callable[[str], ServiceContext], client_for: Callable[..., TestClient], clock: ManualClock
) -> Iterator[World]:
    scoring_ctx = cast(ScoringContext, make_ctx("scoring"))
    scoring_ctx.settings = scoring_ctx.settings.model_copy(update={"bootstrap_rows": 3_000})
    scoring_bootstrap.bootstrap(scoring_ctx)
    scoring_app = client_for(create_scoring_app(scoring_ctx))
    example = scoring_app.get("/v1/segments/farmer", headers=auth(issue_key(scoring_ctx, Role.LOAN_OFFICER)))
    assert example.status_code == 200, example.text
    scoring_outage = Outage()
    scoring_http = httpx.Client(
        base_url="http://scoring.test", transport=_forwarding(scoring_app, scoring_outage)
    )
    scoring = ScoringClient(scoring_http, api_key=issue_key(scoring_ctx, Role.SERVICE, "loans"), attempts=1)

    escrow_ctx = make_ctx("escrow")
    escrow_keys = {
        "market": issue_key(escrow_ctx, Role.MARKETPLACE, "shop-1"),
        "admin": issue_key(escrow_ctx, Role.ADMIN),
    }
    escrow_app = client_for(create_escrow_app(escrow_ctx))
    outage = Outage()
    escrow_http = httpx.Client(base_url="http://escrow.test", transport=_forwarding(escrow_app, outage))
    escrow = EscrowClient(escrow_http, api_key=issue_key(escrow_ctx, Role.SERVICE, "loans"), attempts=1)

    ctx = cast(LoansContext, make_ctx("loans"))
    client = client_for(
        create_loans_app(ctx, scoring_client=scoring, escrow_client=escrow), raise_server_exceptions=True
    )
    keys = {
        "officer": issue_key(ctx, Role.LOAN_OFFICER),
        "manager": issue_key(ctx, Role.CREDIT_MANAGER),
        "auditor": issue_key(ctx, Role.AUDITOR),
    }
    with scoring_http, escrow_http:
        yield World(
            LoansApi(client, keys),
            ctx,
            scoring_ctx,
            EscrowApi(escrow_app, escrow_ctx, escrow_keys),
            outage,
            scoring_outage,
            scoring,
            escrow,
            scoring_app,
            dict(example.json()["example"]),
            clock,
        )


def _trade(world: World) -> None:
    api = world.escrow_api
    e1 = str(api.create(seller_id=SELLER)["id"])
    api.fund(e1)
    for lot in ("A", "B"):
        api.ship_and_deliver(e1, lot)
        api.lot(e1, lot, "accept")
    e2 = str(api.create(seller_id=SELLER)["id"])
    api.fund(e2)
    api.ship_and_deliver(e2, "A")
    api.lot(e2, "A", "dispute", {"reason": "wrong grade"})
    world.clock.advance(timedelta(hours=1))  # the summary's window ends (exclusive) at as_of = now
    world.escrow.calls.clear()


def _linked(world: World) -> dict[str, Any]:
    return world.api.borrower(marketplace_party_id=SELLER)


def test_trade_history_fills_the_omitted_features_and_both_sides_keep_the_sources(world: World) -> None:
    _trade(world)
    product = world.api.product()
    application = world.api.apply(product["id"], _linked(world)["id"], features=world.features())
    assert application["status"] == "scored", application
    assert {k: application["features"][k] for k in MARKETPLACE} == FILLED
    sources = application["feature_sources"]
    assert {k: sources[k] for k in MARKETPLACE} == dict.fromkeys(MARKETPLACE, "marketplace")
    assert sources["land_area_ha"] == "applicant"
    assert application["marketplace_as_of"] == "2026-03-02T09:00:00Z"  # as of now
    assert world.escrow.calls == [f"/v1/parties/{SELLER}/trade-summary"]

    decision = world.decision(application["score"]["id"])
    assert decision["feature_sources"] == sources  # every feature of the spec, on both sides
    assert set(sources) == {c["feature"] for c in decision["contributions"]}
    assert decision["marketplace_as_of"] == "2026-03-02T09:00:00.000000Z"
    assert {
        c["feature"]: c["value"] for c in decision["contributions"] if c["feature"] in MARKETPLACE
    } == FILLED


def test_a_value_the_caller_gave_is_kept(world: World) -> None:
    _trade(world)
    product = world.api.product()
    borrower = _linked(world)
    features = world.features(marketplace_orders_12m=40, marketplace_dispute_rate=None)
    application = world.api.apply(product["id"], borrower["id"], features=features)
    assert application["status"] == "scored", application
    assert application["features"]["marketplace_orders_12m"] == 40
    assert application["features"]["marketplace_volume_12m"] == 975
    assert application["features"]["marketplace_dispute_rate"] == 0.5  # null is no value: filled
    sources = application["feature_sources"]
    assert sources["marketplace_orders_12m"] == "applicant"
    assert sources["marketplace_volume_12m"] == sources["marketplace_dispute_rate"] == "marketplace"

    everything = world.features(**FILLED)
    world.escrow.calls.clear()
    given = world.api.apply(product["id"], borrower["id"], features=everything)
    assert world.escrow.calls == []  # nothing omitted: nothing asked
    assert given["marketplace_as_of"] is None
    assert {given["feature_sources"][k] for k in MARKETPLACE} == {"applicant"}


def test_an_unlinked_borrower_asks_escrow_nothing_and_omitted_features_are_defaults(world: World) -> None:
    product = world.api.product()
    features = world.features(marketplace_orders_12m=3, marketplace_volume_12m=120)
    application = world.api.apply(product["id"], world.api.borrower()["id"], features=features)
    assert application["status"] == "scored" and world.escrow.calls == []
    assert application["feature_sources"]["marketplace_dispute_rate"] == "default"
    assert "marketplace_dispute_rate" not in application["features"]


def test_escrow_down_waits_as_pending_score_then_the_retry_fills_and_scores(world: World) -> None:
    _trade(world)
    product = world.api.product()
    world.escrow.down = True
    application = world.api.apply(product["id"], _linked(world)["id"], features=world.features())
    assert application["status"] == "pending_score" and application["score"] is None
    assert application["feature_sources"] is None and application["marketplace_as_of"] is None
    assert "escrow's trade summary is unavailable" in application["last_score_error"]
    assert application["score_attempts"] == 1

    report = world.retry()  # still down: one more failed attempt, nothing scored
    assert (report.attempted, report.still_pending, report.scored) == (1, 1, 0)
    waiting = world.api.get(f"/v1/applications/{application['id']}")
    assert waiting["status"] == "pending_score" and waiting["score_attempts"] == 2

    world.escrow.down = False
    world.clock.advance(timedelta(minutes=15))
    report = world.retry()
    assert (report.scored, report.still_pending) == (1, 0)
    scored = world.api.get(f"/v1/applications/{application['id']}")
    assert scored["status"] == "scored" and scored["last_score_error"] is None
    assert {k: scored["features"][k] for k in MARKETPLACE} == FILLED
    assert scored["marketplace_as_of"] is not None
    assert world.decision(scored["score"]["id"])["feature_sources"] == scored["feature_sources"]


def test_scoring_down_after_the_fill_keeps_the_filled_features_for_the_retry(world: World) -> None:
    """The retry sends scoring the very body of the first attempt: escrow is not asked again."""
    _trade(world)
    product = world.api.product()
    world.scoring_outage.down = True
    application = world.api.apply(product["id"], _linked(world)["id"], features=world.features())
    assert application["status"] == "pending_score" and len(world.escrow.calls) == 1
    assert {k: application["features"][k] for k in MARKETPLACE} == FILLED
    assert application["feature_sources"]["marketplace_orders_12m"] == "marketplace"
    world.scoring_outage.down = False
    world.escrow.calls.clear()
    assert world.retry().scored == 1
    scored = world.api.get(f"/v1/applications/{application['id']}")
    assert scored["status"] == "scored" and world.escrow.calls == []
    assert scored["marketplace_as_of"] == application["marketplace_as_of"]
    assert {k: scored["features"][k] for k in MARKETPLACE} == FILLED


def test_a_product_that_scores_without_the_marketplace_does_not_wait(world: World) -> None:
    """Escrow down: the product that says so is scored with every marketplace feature defaulted
    (the specs let them be missing); any other product waits."""
    _trade(world)
    waits, scores = world.api.product(), world.api.product(score_without_marketplace=True)
    assert scores["score_without_marketplace"] is True and waits["score_without_marketplace"] is False
    world.escrow.down = True
    features = {k: v for k, v in world.features().items() if k not in MARKETPLACE}
    pending = world.api.apply(waits["id"], _linked(world)["id"], features=features)
    assert pending["status"] == "pending_score"
    borrower = world.api.borrower(national_id="KE-99000001", marketplace_party_id="farmer-8")
    scored = world.api.apply(scores["id"], borrower["id"], features=features)
    assert scored["status"] == "scored", scored
    assert {scored["feature_sources"][k] for k in MARKETPLACE} == {"default"}
    assert scored["marketplace_as_of"] is None


def _policy(world: World, product_id: str, **rules: Any) -> None:
    body = {
        "auto_approve_min_score": "0",
        "auto_approve_max_principal_minor": 5_000_000,
        "auto_decline_below_score": "0",
        **rules,
    }
    world.api.post(f"/v1/products/{product_id}/decision-policy", body, as_="manager", expect=201)


def test_the_policy_reviews_a_defaulted_feature(world: World) -> None:
    product = world.api.product()
    _policy(world, product["id"], review_when_feature_defaulted=True)
    full = world.features(**FILLED)
    approved = world.api.apply(product["id"], world.api.borrower()["id"], features=full)
    assert approved["status"] == "approved", approved  # nothing defaulted (the example gives all)
    assert set(approved["feature_sources"].values()) == {"applicant"}

    omitted = {k: v for k, v in full.items() if k != "marketplace_dispute_rate"}
    review = world.api.apply(product["id"], world.api.borrower()["id"], features=omitted)
    assert review["status"] == "scored" and review["policy_decision"]["outcome"] == "review"
    (rule,) = [r for r in review["policy_decision"]["rules"] if not r["passed"]]
    assert rule == {
        "rule": "review_when_feature_defaulted",
        "passed": False,
        "value": 1,
        "limit": 0,
        "detail": "features defaulted: marketplace_dispute_rate",
    }
    amount = next(
        r for r in review["policy_decision"]["rules"] if r["rule"] == "auto_approve_max_principal_minor"
    )
    assert (amount["value"], amount["limit"]) == (1_200_000, 5_000_000)


def test_the_policy_reviews_a_challenger_disagreeing_with_the_champion(world: World) -> None:
    ctx = world.scoring_ctx
    store = build_store(ctx)
    rough = train_model(load_segment_spec("farmer"), generate("farmer", 400, 99), seed=99)
    with ctx.db.unit_of_work() as session:
        champion = registry_repo.champion(session, "farmer")
        assert champion is not None
        register_model(session, ctx, store, model=rough, actor="test:setup", data_source="synthetic:rough")
    champion_model = store.load("farmer", champion.version, champion.artifact_sha256)
    features = disagreeing_applicant(champion_model, rough, ctx.settings, seed="loans-challenger")
    product = world.api.product()
    _policy(world, product["id"], review_on_challenger_disagreement=True)
    review = world.api.apply(product["id"], world.api.borrower()["id"], features=features)
    assert review["score"]["challenger_disagreement"] is True
    assert review["status"] == "scored" and review["policy_decision"]["outcome"] == "review", review
    failed = [r["rule"] for r in review["policy_decision"]["rules"] if not r["passed"]]
    assert failed == ["review_on_challenger_disagreement"]
