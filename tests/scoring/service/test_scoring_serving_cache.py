"""The per-process cache of the models serving a segment (``service.serving``, issue #13).

A second replica is a second context and app on the same database: it shares no memory with
the first, so it learns of a promotion or a registration through ``shared.invalidation``
(the epoch file on SQLite, a notification on PostgreSQL, waited for with ``wait_moved``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import factory.random
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from services.scoring.app import create_app
from services.scoring.definition import SERVICE
from services.scoring.domain.model import TrainedModel
from services.scoring.repository.artifacts import ModelArtifactError, ModelStore
from services.scoring.service.registry import register_model
from services.scoring.service.serving import MODELS_TOPIC, serving_models
from services.scoring.settings import ScoringContext
from shared.auth import Role
from shared.errors import Conflict
from shared.platform import ServiceContext
from tests.factories.scoring import FEATURE_FACTORIES, ScoreRequestFactory
from tests.scoring.kit import post_score

WAIT_S = 30.0
"""How long a test waits for a notification that must come (it comes in milliseconds)."""


@pytest.fixture
def replica(ctx: ScoringContext) -> Iterator[ScoringContext]:
    """A second replica: its own context (database handle, caches) on the same database."""
    second = ServiceContext.build(SERVICE, ctx.settings, clock=ctx.clock, keyring=ctx.keyring)
    assert second.invalidation.wait_connected(WAIT_S)
    yield second
    second.db.dispose()


class RegistryReads:
    """Counts the registry look-ups (``SELECT … FROM scoring_models``) an engine runs."""

    def __init__(self, ctx: ScoringContext) -> None:
        self.count = 0
        self.engine = ctx.db.engine
        event.listen(self.engine, "before_cursor_execute", self.seen)

    def seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM scoring_models" in statement:
            self.count += 1

    def remove(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self.seen)


def _challenger(ctx: ScoringContext, store: ModelStore, model: TrainedModel) -> str:
    with ctx.db.unit_of_work() as session:
        return register_model(
            session, ctx, store, model=model, actor="test:setup", data_source="challenger"
        ).version


def test_a_promotion_on_one_replica_changes_the_champion_the_other_scores_with(
    ctx: ScoringContext,
    replica: ScoringContext,
    store: ModelStore,
    champions: dict[str, str],
    trained_models: dict[str, TrainedModel],
    client: TestClient,
    client_for: Callable[..., TestClient],
    headers: Callable[[Role], dict[str, str]],
) -> None:
    challenger = _challenger(ctx, store, trained_models["farmer"])
    second = client_for(create_app(replica))
    officer = headers(Role.LOAN_OFFICER)
    manager = {**headers(Role.CREDIT_MANAGER), "Idempotency-Key": "promote-1"}
    factory.random.reseed_random("serving-cache")
    assert (
        post_score(second, officer, ScoreRequestFactory(segment="farmer"))["model_version"]
        == champions["farmer"]
    )
    reads = RegistryReads(replica)
    try:
        assert (
            post_score(second, officer, ScoreRequestFactory(segment="farmer"))["model_version"]
            == champions["farmer"]
        )
        assert reads.count == 0  # the second replica serves the segment from its cache
    finally:
        reads.remove()
    since = replica.invalidation.version(MODELS_TOPIC)
    promoted = client.post(f"/v1/models/{challenger}/promote", headers=manager)
    assert promoted.status_code == 200, promoted.text
    assert replica.invalidation.wait_moved(MODELS_TOPIC, since, WAIT_S)
    assert post_score(second, officer, ScoreRequestFactory(segment="farmer"))["model_version"] == challenger
    assert post_score(client, officer, ScoreRequestFactory(segment="farmer"))["model_version"] == challenger


def test_a_challenger_registered_elsewhere_is_scored_in_shadow_by_every_replica(
    ctx: ScoringContext,
    replica: ScoringContext,
    store: ModelStore,
    champions: dict[str, str],
    trained_models: dict[str, TrainedModel],
) -> None:
    with replica.db.unit_of_work() as session:
        before = serving_models(session, replica, "farmer")
    assert before.champion.version == champions["farmer"] and before.challengers == ()
    since = replica.invalidation.version(MODELS_TOPIC)
    challenger = _challenger(ctx, store, trained_models["farmer"])
    assert replica.invalidation.wait_moved(MODELS_TOPIC, since, WAIT_S)
    with replica.db.unit_of_work() as session:
        after = serving_models(session, replica, "farmer")
    assert after.champion == before.champion
    assert [m.version for m in after.challengers] == [challenger]


def test_a_segment_without_a_champion_is_not_cached(
    ctx: ScoringContext, store: ModelStore, trained_models: dict[str, TrainedModel]
) -> None:
    assert ctx.invalidation.wait_connected(WAIT_S)

    def champion() -> str:
        with ctx.db.unit_of_work() as session:
            return serving_models(session, ctx, "farmer").champion.version

    for _ in range(2):
        with pytest.raises(Conflict):
            champion()
    first = _challenger(ctx, store, trained_models["farmer"])  # the first version becomes champion
    assert champion() == first


def test_a_new_process_loads_its_serving_models_before_its_first_score(
    champions: dict[str, str],
    replica: ScoringContext,
    client_for: Callable[..., TestClient],
    headers: Callable[[Role], dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A process started after the champions were registered (on PostgreSQL a context of the
    # registering process would still be notified of them, after its app was built).
    started = client_for(create_app(replica))

    def no_more_loading(*args: Any) -> TrainedModel:
        raise AssertionError("a model was loaded by a request, not at start-up")

    monkeypatch.setattr("services.scoring.repository.artifacts.load_model", no_more_loading)
    reads = RegistryReads(replica)
    try:
        for segment in ("farmer", "enterprise"):
            factory.random.reseed_random(f"warm-{segment}")
            body = ScoreRequestFactory(segment=segment, features=FEATURE_FACTORIES[segment]())
            scored = post_score(started, headers(Role.LOAN_OFFICER), body)
            assert scored["model_version"] == champions[segment]
        assert reads.count == 0
    finally:
        reads.remove()


def test_a_model_that_cannot_be_loaded_at_start_up_does_not_stop_the_process(
    ctx: ScoringContext,
    champions: dict[str, str],
    client_for: Callable[..., TestClient],
    headers: Callable[[Role], dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real = ModelStore.load
    broken = {"yes": True}

    def load(self: ModelStore, segment: str, version: str, sha256: str) -> TrainedModel:
        if broken["yes"]:
            raise ModelArtifactError(f"artifact of model {version} is missing from the model store")
        return real(self, segment, version, sha256)

    monkeypatch.setattr(ModelStore, "load", load)
    with caplog.at_level("WARNING", logger="agrifin.scoring"):
        started = client_for(create_app(ctx))
    assert "serving models not loaded at start-up" in caplog.text
    broken["yes"] = False  # the artifact is back: the first score loads it
    factory.random.reseed_random("warm-late")
    scored = post_score(started, headers(Role.LOAN_OFFICER), ScoreRequestFactory(segment="farmer"))
    assert scored["model_version"] == champions["farmer"]
