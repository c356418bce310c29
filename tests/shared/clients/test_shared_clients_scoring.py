"""``shared.clients.scoring.ScoringClient`` against the real scoring app, in process.

The client's ``httpx.Client`` has a ``MockTransport`` that forwards every request, byte for
byte, to a TestClient of the scoring app (with small champions registered), so the typed
methods are checked against scoring's real answers, roles and problems: the console's
credential acting for a person, and loans' own. Receipts are verified here, with the
published keys only. Only the unparsable-answer tests answer from a canned transport
(scoring never sends such answers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import factory.random
import httpx
import pytest
from fastapi.testclient import TestClient

from services.scoring.app import create_app
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.synthetic import generate
from services.scoring.domain.training import train_model
from services.scoring.repository.artifacts import build_store
from services.scoring.repository.specs import load_segment_spec
from services.scoring.service.registry import register_model
from services.scoring.settings import ScoringContext
from shared.auth import ACTING_PERSON_HEADER, ACTING_ROLE_HEADER, Role
from shared.clients.scoring import (
    ModelCard,
    PublicKeys,
    ScoreDecision,
    ScoreFilters,
    ScoreResult,
    ScoringClient,
    Segment,
    verify_decision,
)
from shared.clock import ManualClock
from shared.crypto import Keyring, canonical_json
from shared.http_client import UpstreamProblem
from shared.platform import ServiceContext
from tests.factories.scoring import FarmerFeaturesFactory, ScoreRequestFactory
from tests.support import issue_key

ROWS = 2000
SEED = 13


@pytest.fixture(scope="module")
def small_models() -> dict[str, TrainedModel]:
    """A small farmer and enterprise model, trained once for this module."""
    return {
        segment: train_model(load_segment_spec(segment), generate(segment, ROWS, SEED), seed=SEED)
        for segment in ("farmer", "enterprise")
    }


class World:
    """The scoring app, its champions, and typed clients per caller."""

    def __init__(self, ctx: ScoringContext, app: TestClient, models: dict[str, TrainedModel]) -> None:
        self.ctx = ctx
        self.app = app
        self.models = models
        self.store = build_store(ctx)
        self.console_key = issue_key(ctx, Role.SERVICE, "console")
        self.loans_key = issue_key(ctx, Role.SERVICE, "loans")
        self.paths: list[str] = []
        self._opened: list[httpx.Client] = []
        with ctx.db.unit_of_work() as session:
            self.champions = {
                segment: register_model(
                    session, ctx, self.store, model=model, actor="test:setup", data_source=f"small:{segment}"
                ).version
                for segment, model in models.items()
            }

    def _forward(self, request: httpx.Request) -> httpx.Response:
        target = request.url.raw_path.decode("ascii")
        self.paths.append(target)
        answer = self.app.request(
            request.method,
            target,
            content=request.content,
            headers={k: v for k, v in request.headers.items() if k.lower() != "host"},
        )
        return httpx.Response(
            answer.status_code,
            headers={k: v for k, v in answer.headers.items() if k in ("content-type", "content-language")},
            content=answer.content,
        )

    def client(self, api_key: str | None, headers: dict[str, str] | None = None) -> ScoringClient:
        http = httpx.Client(base_url="http://scoring.test", transport=httpx.MockTransport(self._forward))
        self._opened.append(http)
        return ScoringClient(http, api_key=api_key, headers=headers, attempts=1, service="scoring")

    def person(self, username: str, role: Role) -> ScoringClient:
        """The console's client for a signed-in person."""
        return self.client(self.console_key, {ACTING_PERSON_HEADER: username, ACTING_ROLE_HEADER: role.value})

    def loans(self) -> ScoringClient:
        """Loans' own client (``service:loans``)."""
        return self.client(self.loans_key)

    def challenger(self) -> str:
        """Register another farmer version (a challenger)."""
        with self.ctx.db.unit_of_work() as session:
            row = register_model(
                session,
                self.ctx,
                self.store,
                model=self.models["farmer"],
                actor="test:setup",
                data_source="again",
            )
        return row.version

    def close(self) -> None:
        for http in self._opened:
            http.close()


@pytest.fixture
def world(
    make_ctx: Callable[[str], ServiceContext],
    client_for: Callable[..., TestClient],
    small_models: dict[str, TrainedModel],
) -> Iterator[World]:
    ctx = cast(ScoringContext, make_ctx("scoring"))
    made = World(ctx, client_for(create_app(ctx)), small_models)
    yield made
    made.close()


def _score(client: ScoringClient, n: int, **body: Any) -> ScoreResult:
    request = ScoreRequestFactory(**body)
    return client.score(
        segment=request["segment"],
        subject_id=request["subject_id"],
        features=request["features"],
        idempotency_key=f"score-{n}-{request['subject_id']}",
    )


# --- scores and receipts -------------------------------------------------------------------------


def test_loans_scores_as_before_and_a_retry_is_the_same_decision(world: World) -> None:
    factory.random.reseed_random("client-loans")
    loans = world.loans()
    features = FarmerFeaturesFactory()
    first = loans.score(segment="farmer", subject_id="farmer-9", features=features, idempotency_key="k-1")
    again = loans.score(segment="farmer", subject_id="farmer-9", features=features, idempotency_key="k-1")
    assert isinstance(first, ScoreResult) and isinstance(first.score, Decimal)
    assert again == first and first.model_version == world.champions["farmer"]
    assert first.decision_hint in ("approve", "review", "decline") and first.grade in "ABCDE"
    with pytest.raises(UpstreamProblem) as refused:
        loans.score(segment="farmer", subject_id="x", features={"land_area_ha": -1}, idempotency_key="k-2")
    assert refused.value.status == 422
    assert {e["field"] for e in refused.value.problem["errors"]} >= {"features.land_area_ha"}


def test_a_decision_reads_back_typed_and_its_receipt_verifies_here(world: World) -> None:
    factory.random.reseed_random("client-receipt")
    officer = world.person("amina", Role.LOAN_OFFICER)
    made = _score(officer, 1)
    auditor = world.person("li", Role.AUDITOR)
    decision = auditor.get_score(made.id)
    assert isinstance(decision, ScoreDecision) and decision.id == made.id
    assert decision.score == float(made.score) and decision.created_at.tzinfo is not None
    total = decision.base_points + sum(c.points for c in decision.contributions)
    assert total == pytest.approx(decision.score, abs=1e-9)
    assert decision.receipt.signed()["score"] == decision.score

    keys = world.client(None).keys()  # public: no credential
    assert isinstance(keys, PublicKeys) and keys.keys[0].alg == "Ed25519"
    check = verify_decision(decision, keys)
    assert check.valid, check.reason
    assert check.key_id == decision.receipt.key_id
    assert verify_decision(decision, keys.document()).valid  # a saved /v1/keys document too


def test_a_tampered_decision_or_a_foreign_key_does_not_verify(world: World, tmp_path: Path) -> None:
    factory.random.reseed_random("client-tamper")
    made = _score(world.person("amina", Role.LOAN_OFFICER), 2)
    decision = world.person("li", Role.AUDITOR).get_score(made.id)
    keys = world.client(None).keys()
    shown_higher = decision.model_copy(update={"score": decision.score + 25})
    assert (
        verify_decision(shown_higher, keys).reason == "response field 'score' differs from the signed payload"
    )
    later = decision.model_copy(update={"created_at": decision.created_at + timedelta(seconds=1)})
    assert not verify_decision(later, keys).valid
    raised = canonical_json({**decision.receipt.signed(), "score": 700.0})
    forged = decision.receipt.model_copy(update={"payload": raised})
    assert verify_decision(decision.model_copy(update={"receipt": forged}), keys).reason == (
        "signature does not verify"
    )
    Keyring.generate(tmp_path)
    (stranger,) = Keyring.load(tmp_path).public_keys()
    impostor = {"keys": [{**stranger, "key_id": decision.receipt.key_id}]}
    assert verify_decision(decision, impostor).reason == "signature does not verify"
    assert verify_decision(decision, {"keys": []}).reason.startswith("no published key")


def test_reasons_and_the_waterfall_in_the_language_asked(world: World) -> None:
    factory.random.reseed_random("client-lang")
    officer = world.person("amina", Role.LOAN_OFFICER)
    made = next(r for r in (_score(officer, n) for n in range(20)) if r.reasons)
    spec = load_segment_spec("farmer")
    chinese = officer.get_score(made.id, lang="zh")
    assert [r.text for r in chinese.reasons] == [
        spec.feature(r.feature).reason("zh") for r in chinese.reasons
    ]
    english = officer.get_score(made.id)
    assert [r.text for r in english.reasons] == [
        spec.feature(r.feature).reason("en") for r in english.reasons
    ]
    assert verify_decision(chinese, officer.keys()).valid  # the texts are not signed, the codes are
    svg = officer.waterfall_svg(made.id, lang="zh")
    assert svg.startswith("<svg") and 'lang="zh"' in svg and "<desc" in svg and "基础分" in svg
    assert "base points" in officer.waterfall_svg(made.id)
    scored_zh = officer.score(
        segment="farmer",
        subject_id="zh-1",
        features=FarmerFeaturesFactory(),
        idempotency_key="zh-1",
        monitoring_group="north",
        lang="zh",
    )
    assert all(r.text == spec.feature(str(r.feature)).reason("zh") for r in scored_zh.reasons)


def test_the_explorer_filters_and_pages(world: World, clock: ManualClock) -> None:
    factory.random.reseed_random("client-explorer")
    officer = world.person("amina", Role.LOAN_OFFICER)
    start = clock.now()
    made = []
    for n in range(9):
        made.append(_score(officer, n, subject_id=f"farmer-{n % 3}"))
        clock.advance(timedelta(hours=1))
    auditor = world.person("li", Role.AUDITOR)
    first = auditor.list_scores(limit=4)
    assert [s.id for s in first.scores] == [m.id for m in reversed(made)][:4] and first.next_offset == 4
    rest = auditor.list_scores(limit=4, offset=8)
    assert len(rest.scores) == 1 and rest.next_offset is None
    by_subject = auditor.list_scores(ScoreFilters(subject_id="farmer-1"))
    assert [s.id for s in by_subject.scores] == [made[7].id, made[4].id, made[1].id]
    beijing = timezone(timedelta(hours=8))
    window = ScoreFilters(
        scored_from=(start + timedelta(hours=2)).astimezone(beijing), scored_to=start + timedelta(hours=5)
    )
    assert window.params()["scored_from"].endswith("+08:00")
    assert [s.id for s in auditor.list_scores(window).scores] == [made[4].id, made[3].id, made[2].id]
    hint = made[0].decision_hint
    filters = ScoreFilters.model_validate({"decision_hint": hint, "model_version": world.champions["farmer"]})
    hinted = auditor.list_scores(filters)
    assert {s.decision_hint for s in hinted.scores} == {hint} and made[0].id in {s.id for s in hinted.scores}
    with pytest.raises(UpstreamProblem) as backwards:
        auditor.list_scores(
            ScoreFilters(scored_from=start.astimezone(UTC), scored_to=start - timedelta(days=1))
        )
    assert backwards.value.status == 422


def test_replay_is_identical_and_only_for_those_who_may(world: World) -> None:
    factory.random.reseed_random("client-replay")
    made = _score(world.person("amina", Role.LOAN_OFFICER), 1)
    auditor = world.person("li", Role.AUDITOR)
    replayed = auditor.replay(made.id, idempotency_key="replay-1")
    assert replayed.identical and replayed.differences == [] and replayed.model_version == made.model_version
    assert replayed.replayed == replayed.original
    assert auditor.replay(made.id, idempotency_key="replay-1") == replayed
    with pytest.raises(UpstreamProblem) as refused:
        world.person("amina", Role.LOAN_OFFICER).replay(made.id, idempotency_key="replay-2")
    assert refused.value.status == 403
    entries = auditor.audit_entries(subject=f"score:{made.id}")
    replay_entries = [e for e in entries if e.action == "score.replayed"]
    assert len(replay_entries) == 1 and replay_entries[0].actor.startswith("person:li:auditor:via:")


# --- segments, registry, monitoring ---------------------------------------------------------------


def test_a_segment_spec_is_enough_to_build_the_application_form(world: World) -> None:
    officer = world.person("amina", Role.LOAN_OFFICER)
    listed = {s.segment: s for s in officer.segments()}
    assert (
        set(listed) == {"farmer", "enterprise"}
        and listed["farmer"].champion_version == world.champions["farmer"]
    )
    farmer = officer.segment("farmer")
    assert isinstance(farmer, Segment) and farmer.source == "builtin"
    spec = load_segment_spec("farmer")
    assert [f.name for f in farmer.features] == spec.feature_names
    land = farmer.feature("land_area_ha")
    assert (land.type, land.min, land.max, land.unit) == ("numeric", 0.0, 500.0, "hectares")
    assert farmer.feature("main_crop").categories == list(spec.feature("main_crop").categories)
    assert farmer.feature("irrigation").type == "boolean"
    assert land.reason.text("zh") == spec.feature("land_area_ha").reason("zh") != land.reason.text("en")
    assert any(f.missing_allowed for f in farmer.features) and any(
        not f.missing_allowed for f in farmer.features
    )
    scored = officer.score(
        segment="farmer", subject_id="example", features=farmer.example, idempotency_key="ex"
    )
    assert scored.segment == "farmer"
    with pytest.raises(UpstreamProblem) as unknown:
        officer.segment("nope")
    assert unknown.value.status == 404


def test_the_registry_promotions_and_cards(world: World, clock: ManualClock) -> None:
    challenger = world.challenger()
    manager = world.person("grace", Role.CREDIT_MANAGER)
    clock.advance(timedelta(days=1))
    promoted = manager.promote(challenger, idempotency_key="promote-1")
    assert promoted.status == "champion" and promoted.promoted_by is not None
    assert promoted.promoted_by.startswith("person:grace:credit_manager:via:")
    auditor = world.person("li", Role.AUDITOR)
    history = auditor.champion_history("farmer")
    assert history.champion_version == challenger
    assert [(p.version, p.previous_version) for p in history.promotions] == [
        (challenger, world.champions["farmer"]),
        (world.champions["farmer"], None),
    ]
    assert history.promotions[0].promoted_at == clock.now()
    detail = auditor.model(challenger)
    assert detail.promotions == history.promotions[:1] == auditor.promotions(challenger)
    assert detail.spec.segment == "farmer" and detail.spec.feature("land_area_ha").max == 500.0
    assert {m.version: m.status for m in auditor.models(segment="farmer")} == {
        challenger: "champion",
        world.champions["farmer"]: "retired",
    }
    assert [m.version for m in auditor.models(status="champion", segment="enterprise")] == [
        world.champions["enterprise"]
    ]
    card = auditor.model_card(challenger)
    assert isinstance(card, ModelCard) and card.model.artifact_sha256 == detail.artifact_sha256
    assert [g.grade for g in card.grades][-1] == "E" and card.grades[-1].min_score is None
    assert len(card.monotone_constraints) == len(detail.spec.features) and card.top_drivers
    markdown = auditor.model_card_markdown(challenger)
    assert markdown.startswith("#") and challenger in markdown
    with pytest.raises(UpstreamProblem) as again:
        manager.promote(challenger, idempotency_key="promote-2")
    assert again.value.status == 409
    with pytest.raises(UpstreamProblem) as auditors_do_not:
        auditor.promote(world.champions["farmer"], idempotency_key="promote-3")
    assert auditors_do_not.value.status == 403


def test_shadow_scores_and_monitoring(world: World, clock: ManualClock) -> None:
    factory.random.reseed_random("client-monitoring")
    challenger = world.challenger()
    officer = world.person("amina", Role.LOAN_OFFICER)
    since = clock.now()
    made = [
        officer.score(
            segment="farmer",
            subject_id=f"m-{n}",
            features=FarmerFeaturesFactory(),
            idempotency_key=f"m-{n}",
            monitoring_group="north" if n % 2 else "south",
        )
        for n in range(30)
    ]
    auditor = world.person("li", Role.AUDITOR)
    (shadow,) = auditor.shadow_scores(made[0].id)
    # the same model, scored on another path: equal up to the last bit of a float's sum order
    assert shadow.challenger_version == challenger
    assert shadow.score == pytest.approx(float(made[0].score), rel=1e-12)
    report = auditor.monitoring_psi("farmer", since=since)
    assert report.rows == 30 and report.model_version == world.champions["farmer"]
    assert report.score is not None and report.score.kind == "numeric"
    assert sum(b.actual for b in report.score.bins) == pytest.approx(1.0)
    assert set(report.features) == set(load_segment_spec("farmer").feature_names)
    assert report.features["land_tenure"].categories and report.features["land_tenure"].edges is None
    assert report.fairness is not None and report.fairness.counts == {"north": 15, "south": 15}
    with pytest.raises(UpstreamProblem) as officers_do_not:
        officer.monitoring_psi("farmer")
    assert officers_do_not.value.status == 403


def test_the_audit_chain_verifies_through_the_platform_routes(world: World) -> None:
    factory.random.reseed_random("client-audit")
    _score(world.person("amina", Role.LOAN_OFFICER), 1)
    verification = world.person("li", Role.AUDITOR).verify_audit()
    assert verification.ok and verification.entries >= 3


# --- what the client refuses ------------------------------------------------------------------------


def test_ids_stay_one_path_segment(world: World) -> None:
    auditor = world.person("li", Role.AUDITOR)
    with pytest.raises(UpstreamProblem) as caught:
        auditor.get_score("../keys")
    assert caught.value.status == 404
    assert world.paths[-1].startswith("/v1/scores/..%2Fkeys")


def _canned(body: bytes, content_type: str = "application/json") -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": content_type}, content=body)

    return httpx.Client(base_url="http://scoring.test", transport=httpx.MockTransport(answer))


@pytest.mark.parametrize(
    ("call", "body", "content_type"),
    [
        (lambda c: c.get_score("s-1"), b'{"id": "s-1", "score": "high"}', "application/json"),
        (lambda c: c.list_scores(), b"not json", "application/json"),
        (lambda c: c.keys(), b'{"keys": [{"key_id": 1}]}', "application/json"),
        (
            lambda c: c.segment("farmer"),
            b'{"segment": "farmer", "features": [{"name": "x", "type": "date"}]}',
            "application/json",
        ),
        (lambda c: c.waterfall_svg("s-1"), b"<html></html>", "text/html"),
        (lambda c: c.monitoring_psi("farmer"), b'{"segment": "farmer"}', "application/json"),
    ],
)
def test_an_answer_that_does_not_parse_is_a_502(
    call: Callable[[ScoringClient], Any], body: bytes, content_type: str
) -> None:
    with _canned(body, content_type) as http, pytest.raises(UpstreamProblem) as caught:
        call(ScoringClient(http, api_key="k", attempts=1, service="scoring"))
    assert caught.value.status == 502 and "unexpected answer" in str(caught.value.problem["detail"])
