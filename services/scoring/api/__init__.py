"""The scoring service's HTTP API: one router per resource."""

from __future__ import annotations

from fastapi import APIRouter

from services.scoring.api import inbound, keys, models, monitoring, scores, segments


def routers() -> list[APIRouter]:
    """Every router of the scoring API."""
    return [scores.router, models.router, segments.router, monitoring.router, keys.router, inbound.router]
