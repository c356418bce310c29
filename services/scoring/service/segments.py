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
from services.scoring.models import ModelVersion
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
        spec = _segment_spec(session, segment, champions.get(segment))
        out.append({
            "segment": segment,
            "source": "builtin" if segment in SEGMENTS else "registered",
            "description": spec.description,
            "features": len(spec.features),
            "champion_version": champions[segment].version if segment in champions else None,
        })
    return out


def _segment_spec(session: Session, segment: str, champion: ModelVersion | None) -> SegmentSpec:
    """The champion's spec (looked up by the caller), else the newest version's, else the built-in one."""
    row = champion or repo.latest_model(session, segment)
    if row is not None:
        return spec_from_dict(json.loads(row.spec))
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
        spec = _segment_spec(session, segment, None)
    return {
        **spec_to_dict(spec),
        "source": "builtin" if segment in SEGMENTS else "registered",
        "champion_version": champion.version if champion is not None else None,
        "example": example_features(spec, baseline),
    }
