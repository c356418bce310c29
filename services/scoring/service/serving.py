"""Which models serve a segment: its champion and its newest challengers (scored in shadow).

A score reads them from a per-process cache by segment (``ctx.invalidation``, topic
``MODELS_TOPIC``) instead of the registry. Whatever changes which models serve a segment —
registering a version (a new challenger, or the first champion), promoting one (which retires
the champion) — calls ``models_changed`` in its transaction, and once that commits every
process and replica loads them again (``shared.invalidation``). A segment with no champion,
or an unknown one, is never cached: it is looked up, and refused, every time.

``warm`` fills both caches when a process starts (every segment's serving models, and their
artifacts loaded and verified in the model store), so that a new process's first scores do
not each wait on reading, hashing and parsing models while applicants queue behind them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from services.scoring.models import ModelVersion
from services.scoring.repository import registry as registry_repo
from services.scoring.repository.artifacts import ModelStore
from services.scoring.service import segments
from services.scoring.settings import ScoringContext
from shared.errors import Conflict, NotFound
from shared.invalidation import VersionedCache

MODELS_TOPIC = "scoring.models"
"""The invalidation topic of the champion/challenger cache."""


@dataclass(frozen=True)
class ServedModel:
    """A registered version as a score uses it: its name and its artifact's sha256."""

    version: str
    artifact_sha256: str


@dataclass(frozen=True)
class SegmentModels:
    """A segment's champion and its newest challengers, newest first."""

    champion: ServedModel
    challengers: tuple[ServedModel, ...]


def champion_for(session: Session, segment: str) -> ModelVersion:
    """The segment's champion; NotFound for an unknown segment, Conflict when it has none."""
    row = registry_repo.champion(session, segment)
    if row is not None:
        return row
    if not segments.is_known(session, segment):
        raise NotFound(f"unknown segment {segment!r}")
    raise Conflict(
        f"segment {segment!r} has no champion model yet",
        current_state="no_champion",
        allowed_actions=["train"],
    )


def serving_models(session: Session, ctx: ScoringContext, segment: str) -> SegmentModels:
    """The models that serve ``segment`` (cached per process); errors as ``champion_for``."""
    cache: VersionedCache[str, SegmentModels] = ctx.invalidation.cache(MODELS_TOPIC)
    return cache.get(segment, lambda: _load_serving_models(session, ctx, segment))


def _load_serving_models(session: Session, ctx: ScoringContext, segment: str) -> SegmentModels:
    champion = champion_for(session, segment)
    challengers = registry_repo.challengers(session, segment, limit=ctx.settings.shadow_max_challengers)
    return SegmentModels(
        champion=ServedModel(champion.version, champion.artifact_sha256),
        challengers=tuple(ServedModel(row.version, row.artifact_sha256) for row in challengers),
    )


def warm(session: Session, ctx: ScoringContext, store: ModelStore) -> list[str]:
    """Cache every segment's serving models and load their artifacts; the versions loaded."""
    loaded: list[str] = []
    for segment in sorted(registry_repo.champions(session)):
        served = serving_models(session, ctx, segment)
        for model in (served.champion, *served.challengers):
            store.load(segment, model.version, model.artifact_sha256)
            loaded.append(model.version)
    return loaded


def models_changed(session: Session, ctx: ScoringContext) -> None:
    """In a registry change's transaction: every process reloads the serving models after it commits."""
    ctx.invalidation.bump(session, MODELS_TOPIC)
