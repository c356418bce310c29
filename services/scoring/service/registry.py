"""Registry use cases: register a trained model, train from synthetic data, promote, read.

Training on synthetic data is long work: a request queues it (``enqueue_training``) and the
worker runs it (``run_training``, from the ``scoring.train`` job in ``services.scoring.jobs``).

Versions are named ``<segment>-v<n>`` (``n`` counts up per segment under the segment lock).
The first version of a segment becomes its champion; later ones are challengers until an
admin or credit manager promotes them, which retires the previous champion. Registration
and promotion are audited (``model.registered``, ``model.promoted``) and emitted as events;
every promotion is also a row of the champion history (``scoring_promotions``: who, when,
replacing which version). Both change which models serve a segment, so both bump the
per-process serving cache's topic (``service.serving.models_changed``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from services.scoring.domain.card import build_model_card, model_card_markdown, performance_section
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.performance_svg import chart_title, render_performance_svg
from services.scoring.domain.receipt import dumps_exact
from services.scoring.domain.spec import SEGMENT_NAME, is_segment_name, spec_to_dict
from services.scoring.domain.synthetic import GENERATORS, generate
from services.scoring.domain.training import TrainingDataError, train_model
from services.scoring.models import (
    MODEL_STATUSES,
    STATUS_CHALLENGER,
    STATUS_CHAMPION,
    STATUS_RETIRED,
    ModelVersion,
    Promotion,
)
from services.scoring.repository import artifact_rows
from services.scoring.repository import registry as repo
from services.scoring.repository.artifacts import ModelStore, artifact_files
from services.scoring.repository.specs import builtin_spec
from services.scoring.service import segments
from services.scoring.service.performance import segment_performance
from services.scoring.service.serving import models_changed
from services.scoring.settings import ScoringContext
from shared.changes import record_change
from shared.clock import utc_iso
from shared.crypto import canonical_json
from shared.errors import Conflict, NotFound, ValidationProblem
from shared.jobs import JobOut, enqueue_job

_PARAMETER_KEYS = (
    "params", "num_boost_round", "early_stopping_rounds", "best_iteration", "seed",
    "calibration", "score_scale", "base_points", "target",
)  # fmt: skip


def check_segment_name(segment: str, field: str = "segment") -> str:
    """Refuse segment names that are not short lower-case identifiers (they name directories)."""
    if not is_segment_name(segment):
        raise ValidationProblem([(field, f"must match {SEGMENT_NAME.pattern}")])
    return segment


def _parameters(meta: dict[str, Any]) -> dict[str, Any]:
    return {key: meta[key] for key in _PARAMETER_KEYS if key in meta}


def register_model(
    session: Session,
    ctx: ScoringContext,
    store: ModelStore,
    *,
    model: TrainedModel,
    actor: str,
    data_source: str,
    promote: bool = False,
) -> ModelVersion:
    """Store ``model``'s artifacts (the database row, in this transaction, and the local cache)
    and registry row; champion if the segment has none or ``promote``."""
    segment = check_segment_name(model.segment)
    repo.lock_segment(session, segment)
    sequence = repo.next_sequence(session, segment)
    version = f"{segment}-v{sequence}"
    meta = model.metadata
    store.save(model, version)
    current = repo.champion(session, segment, lock=True)
    becomes_champion = current is None or promote
    now = ctx.clock.now()
    if becomes_champion and current is not None:
        current.status = STATUS_RETIRED
        session.flush()  # the partial unique index sees one champion at a time
    row = ModelVersion(
        version=version,
        segment=segment,
        sequence=sequence,
        status=STATUS_CHAMPION if becomes_champion else STATUS_CHALLENGER,
        artifact_sha256=model.artifact_sha256,
        spec=canonical_json(spec_to_dict(model.spec)),
        parameters=dumps_exact(_parameters(meta)),
        library_versions=canonical_json(meta["library_versions"]),
        data_fingerprint=meta["data"]["fingerprint"],
        data_source=data_source[:200],
        metrics=dumps_exact(meta["metrics"]),
        created_at=now,
        created_by=actor,
        promoted_at=now if becomes_champion else None,
        promoted_by=actor if becomes_champion else None,
    )
    repo.add_model(session, row)
    models_changed(session, ctx)  # a new challenger, or a new champion: every process reloads
    artifact_rows.add_artifact(session, version, artifact_files(model), now=now)
    facts = {
        "version": version,
        "segment": segment,
        "artifact_sha256": row.artifact_sha256,
        "data_fingerprint": row.data_fingerprint,
        "data_source": row.data_source,
        "status": row.status,
    }
    record_change(
        session, ctx, actor=actor, action="model.registered", subject=f"model:{version}", payload=facts
    )
    if becomes_champion:
        _record_promotion(
            session, ctx, row, actor=actor, previous=current.version if current is not None else None
        )
    return row


def _record_promotion(
    session: Session, ctx: ScoringContext, row: ModelVersion, *, actor: str, previous: str | None
) -> None:
    """The champion history's row and the audited, emitted ``model.promoted``."""
    assert row.promoted_at is not None
    repo.add_promotion(
        session,
        Promotion(
            segment=row.segment,
            version=row.version,
            previous_version=previous,
            promoted_at=row.promoted_at,
            promoted_by=actor,
        ),
    )
    record_change(
        session,
        ctx,
        actor=actor,
        action="model.promoted",
        subject=f"model:{row.version}",
        payload={
            "version": row.version,
            "segment": row.segment,
            "artifact_sha256": row.artifact_sha256,
            "previous_champion": previous,
        },
    )


TRAIN_JOB = "scoring.train"
"""The kind of the job that trains on synthetic data (``services.scoring.jobs`` runs it)."""


def _check_training_request(ctx: ScoringContext, *, segment: str, rows: int) -> None:
    if segment not in GENERATORS:
        raise ValidationProblem(
            [("segment", f"no synthetic data for {segment!r}; one of {', '.join(sorted(GENERATORS))}")]
        )
    if rows > ctx.settings.train_max_rows:
        raise ValidationProblem(
            [("rows", f"must be <= {ctx.settings.train_max_rows} (train larger models with `agrifin train`)")]
        )


def training_progress(
    progress: Callable[..., None], checkpoint: Callable[[], None] | None = None
) -> Callable[[str, Mapping[str, Any]], None]:
    """``train_model``'s ``progress(stage, info)`` as a job's progress: its ``round`` of ``rounds``
    become ``rounds`` done of ``max_rounds``; ``checkpoint`` (a stopping worker) runs at each new stage."""
    current: list[str] = []

    def report(stage: str, info: Mapping[str, Any]) -> None:
        if current != [stage]:
            current[:] = [stage]
            if checkpoint is not None:
                checkpoint()
        values = {k: v for k, v in info.items() if k not in ("round", "rounds", "best_iteration")}
        if "round" in info:
            values["rounds"] = info["round"]
        if "rounds" in info:
            values["max_rounds"] = info["rounds"]
        progress(stage=stage, **values)

    return report


def enqueue_training(
    session: Session, ctx: ScoringContext, *, segment: str, rows: int, seed: int, actor: str
) -> JobOut:
    """Check a request to train on synthetic data and queue it as a job for the worker."""
    _check_training_request(ctx, segment=segment, rows=rows)
    return enqueue_job(
        session, ctx, kind=TRAIN_JOB, payload={"segment": segment, "rows": rows, "seed": seed}, actor=actor
    )


def run_training(
    ctx: ScoringContext,
    store: ModelStore,
    *,
    segment: str,
    rows: int,
    seed: int,
    actor: str,
    progress: Callable[..., None],
) -> ModelVersion:
    """Train on seeded synthetic data with no transaction open, then register in one short one."""
    _check_training_request(ctx, segment=segment, rows=rows)
    progress(stage="generating data", rows=rows)
    frame = generate(segment, rows, seed)
    try:
        model = train_model(
            builtin_spec(segment),
            frame,
            seed=seed,
            scale=ctx.settings.score_scale,
            progress=training_progress(progress),
        )
    except TrainingDataError as exc:
        raise ValidationProblem([("rows", str(exc))]) from exc
    meta = model.metadata
    progress(stage="registering", rounds=meta["best_iteration"], max_rounds=meta["num_boost_round"])
    with ctx.db.unit_of_work() as session:
        row = register_model(
            session,
            ctx,
            store,
            model=model,
            actor=actor,
            data_source=f"synthetic:{segment}:rows={rows}:seed={seed}",
        )
    progress(stage="registered", version=row.version)
    return row


def promote(
    session: Session, ctx: ScoringContext, store: ModelStore, *, version: str, actor: str
) -> ModelVersion:
    """Make ``version`` its segment's champion and retire the previous one (audited)."""
    repo.lock_segment(session, get_version(session, version).segment)
    row = repo.get_model(session, version, lock=True)
    assert row is not None  # versions are never deleted
    if row.status == STATUS_CHAMPION:
        raise Conflict(
            f"{version} is already the champion of {row.segment}",
            current_state=row.status,
            allowed_actions=[],
        )
    store.load(row.segment, row.version, row.artifact_sha256)  # refuse a broken artifact
    current = repo.champion(session, row.segment, lock=True)
    if current is not None:
        current.status = STATUS_RETIRED
        session.flush()
    now = ctx.clock.now()
    row.status, row.promoted_at, row.promoted_by = STATUS_CHAMPION, now, actor
    session.flush()
    models_changed(session, ctx)  # every process scores with the new champion once this commits
    _record_promotion(
        session, ctx, row, actor=actor, previous=current.version if current is not None else None
    )
    return row


def list_versions(
    session: Session, *, segment: str | None, status: str | None, limit: int, offset: int
) -> list[ModelVersion]:
    """Registered versions, per segment newest first (``status`` one of MODEL_STATUSES)."""
    if status is not None and status not in MODEL_STATUSES:
        raise ValidationProblem([("status", f"must be one of {', '.join(MODEL_STATUSES)}")])
    return list(repo.list_models(session, segment=segment, status=status, limit=limit, offset=offset))


def get_version(session: Session, version: str) -> ModelVersion:
    """A registered version or NotFound."""
    row = repo.get_model(session, version)
    if row is None:
        raise NotFound(f"no model version {version!r}")
    return row


def version_promotions(session: Session, version: str) -> list[Promotion]:
    """Every time ``version`` became champion, newest first."""
    return list(repo.promotions(session, version=version, limit=PROMOTIONS_PER_VERSION))


PROMOTIONS_PER_VERSION = 100
"""At most this many of a version's promotions are listed with it (newest first)."""


def champion_history(
    session: Session, segment: str, *, limit: int, offset: int
) -> tuple[str | None, list[Promotion]]:
    """A segment's champion now and its promotions, newest first (who made which version
    champion when, replacing which); NotFound for an unknown segment."""
    if not segments.is_known(session, segment):
        raise NotFound(f"unknown segment {segment!r}")
    champion = repo.champion(session, segment)
    rows = repo.promotions(session, segment=segment, limit=limit, offset=offset)
    return (champion.version if champion is not None else None), list(rows)


def load_version(session: Session, store: ModelStore, version: str) -> tuple[ModelVersion, TrainedModel]:
    """A registered version and its verified model."""
    row = get_version(session, version)
    return row, store.load(row.segment, row.version, row.artifact_sha256)


def model_card(session: Session, ctx: ScoringContext, store: ModelStore, version: str) -> dict[str, Any]:
    """The model card (JSON) of a version, with its registry status and how its loans performed
    (the performance report of its decisions, as of today, and the path of its chart)."""
    row, model = load_version(session, store, version)
    card = {
        "version": row.version,
        "status": row.status,
        "created_at": utc_iso(row.created_at),
        **build_model_card(model),
    }
    report = segment_performance(session, ctx, segment=row.segment, model_version=row.version, as_of=None)
    chart = f"/v1/models/{quote(row.version, safe='')}/performance.svg"
    limitations = card.pop("limitations")  # the card ends with its limitations
    return {**card, "performance": performance_section(report, chart=chart), "limitations": limitations}


def model_card_md(session: Session, ctx: ScoringContext, store: ModelStore, version: str) -> str:
    """The model card of a version as Markdown."""
    card = model_card(session, ctx, store, version)
    title, _, rest = model_card_markdown(card).partition("\n")
    return f"{title}\n\n- Version: `{card['version']}` ({card['status']}){rest}"


def performance_chart(session: Session, ctx: ScoringContext, version: str, lang: str = "en") -> str:
    """The card's chart as SVG: realised default rate vs mean predicted PD per grade, as of today."""
    row = get_version(session, version)
    report = segment_performance(session, ctx, segment=row.segment, model_version=row.version, as_of=None)
    title = chart_title(version=row.version, as_of=report["as_of"], lang=lang)
    return render_performance_svg(
        report["grades"], title=title, ident=f"performance-{row.version}", lang=lang
    )
