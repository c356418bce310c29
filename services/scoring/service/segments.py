"""Segments: the built-in specs (``services/scoring/specs/*.yaml``) plus every segment that
has a registered model (bring-your-own-data specs are stored with their models).

A segment's spec is its champion's spec; without a champion, its newest version's; without
any version, the built-in YAML.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from services.scoring.domain.examples import example_features
from services.scoring.domain.spec import (
    SEGMENTS,
    SegmentSpec,
    load_segment_spec,
    spec_from_dict,
    spec_to_dict,
)
from services.scoring.repository import registry as repo
from services.scoring.store import ModelStore
from shared.errors import NotFound


@cache
def builtin_spec(segment: str) -> SegmentSpec:
    """A built-in segment's spec (parsed once per process)."""
    return load_segment_spec(segment)


def is_known(session: Session, segment: str) -> bool:
    """True for a built-in segment or one with a registered model."""
    return segment in SEGMENTS or repo.latest_model(session, segment) is not None


def list_segments(session: Session) -> list[dict[str, Any]]:
    """Every segment with its source, champion and feature count."""
    champions = repo.champions(session)
    out = []
    for segment in sorted(set(SEGMENTS) | set(repo.registered_segments(session))):
        spec = _spec_without_model(session, segment)
        out.append({
            "segment": segment,
            "source": "builtin" if segment in SEGMENTS else "registered",
            "description": spec.description,
            "features": len(spec.features),
            "champion_version": champions[segment].version if segment in champions else None,
        })
    return out


def _spec_without_model(session: Session, segment: str) -> SegmentSpec:
    champion = repo.champion(session, segment) or repo.latest_model(session, segment)
    if champion is not None:
        return spec_from_dict(json.loads(champion.spec))
    if segment in SEGMENTS:
        return builtin_spec(segment)
    raise NotFound(f"unknown segment {segment!r}")


def segment_detail(session: Session, store: ModelStore, segment: str) -> dict[str, Any]:
    """A segment's spec with an ``example`` applicant its champion scores."""
    champion = repo.champion(session, segment)
    baseline: dict[str, Any] | None = None
    if champion is not None:
        model = store.load(segment, champion.version, champion.artifact_sha256)
        spec, baseline = model.spec, model.metadata.get("baseline")
    else:
        spec = _spec_without_model(session, segment)
    return {
        **spec_to_dict(spec),
        "source": "builtin" if segment in SEGMENTS else "registered",
        "champion_version": champion.version if champion is not None else None,
        "example": example_features(spec, baseline),
    }
