"""Segments: the built-in specs (``services/scoring/specs/*.yaml``) plus every segment that
has a registered model (bring-your-own-data specs are stored with their models).

A segment's spec is its champion's spec; without a champion, its newest version's; without
any version, the built-in YAML.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from services.scoring.domain.examples import example_features
from services.scoring.domain.spec import SEGMENTS, SegmentSpec, is_segment_name, spec_from_dict
from services.scoring.models import ModelVersion
from services.scoring.repository import registry as repo
from services.scoring.repository.artifacts import ModelStore
from services.scoring.repository.specs import builtin_spec
from shared.errors import NotFound


@dataclass(frozen=True)
class SegmentEntry:
    """A segment, its current spec and its champion."""

    segment: str
    spec: SegmentSpec
    champion_version: str | None

    @property
    def source(self) -> str:
        """``builtin`` (a bundled YAML spec) or ``registered`` (bring-your-own-data)."""
        return "builtin" if self.segment in SEGMENTS else "registered"


@dataclass(frozen=True)
class SegmentDetail(SegmentEntry):
    """A segment with an example applicant its champion scores."""

    example: dict[str, Any]


def is_known(session: Session, segment: str) -> bool:
    """True for a built-in segment or one with a registered model."""
    return segment in SEGMENTS or repo.latest_model(session, segment) is not None


def list_segments(session: Session) -> list[SegmentEntry]:
    """Every segment with its spec and champion."""
    champions = repo.champions(session)
    out = []
    for segment in sorted(set(SEGMENTS) | set(repo.registered_segments(session))):
        champion = champions.get(segment)
        out.append(
            SegmentEntry(
                segment=segment,
                spec=_segment_spec(session, segment, champion),
                champion_version=champion.version if champion is not None else None,
            )
        )
    return out


def _segment_spec(session: Session, segment: str, champion: ModelVersion | None) -> SegmentSpec:
    """The champion's spec (looked up by the caller), else the newest version's, else the built-in one."""
    row = champion or repo.latest_model(session, segment)
    if row is not None:
        return spec_from_dict(json.loads(row.spec))
    if segment in SEGMENTS:
        return builtin_spec(segment)
    raise NotFound(f"unknown segment {segment!r}")


def segment_detail(session: Session, store: ModelStore, segment: str) -> SegmentDetail:
    """A segment's spec with an ``example`` applicant its champion scores."""
    if not is_segment_name(segment):
        raise NotFound(f"unknown segment {segment!r}")
    champion = repo.champion(session, segment)
    baseline: dict[str, Any] | None = None
    if champion is not None:
        model = store.load(segment, champion.version, champion.artifact_sha256)
        spec, baseline = model.spec, model.metadata.get("baseline")
    else:
        spec = _segment_spec(session, segment, None)
    return SegmentDetail(
        segment=segment,
        spec=spec,
        champion_version=champion.version if champion is not None else None,
        example=example_features(spec, baseline),
    )
