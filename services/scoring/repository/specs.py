"""Spec files: the built-in segments' YAML (``services/scoring/specs/<segment>.yaml``) and
bring-your-own-data spec files. Reading is here; parsing and checking is the domain's
(``domain.spec.spec_from_yaml``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from services.scoring.domain.spec import SegmentSpec, spec_from_yaml

SPECS_DIR = Path(__file__).resolve().parent.parent / "specs"


def load_spec(path: str | Path) -> SegmentSpec:
    """Read, parse and check a spec YAML file."""
    return spec_from_yaml(Path(path).read_text(encoding="utf-8"), source=str(path))


def load_segment_spec(segment: str, specs_dir: str | Path = SPECS_DIR) -> SegmentSpec:
    """The spec of a named segment (``farmer``, ``enterprise``) from ``specs_dir``."""
    path = Path(specs_dir) / f"{segment}.yaml"
    if not path.is_file():
        raise KeyError(f"no spec for segment {segment!r}")
    return load_spec(path)


@cache
def builtin_spec(segment: str) -> SegmentSpec:
    """A built-in segment's spec (read once per process)."""
    return load_segment_spec(segment)
