"""Settings of the scoring service (environment prefix ``AGRIFIN_SCORING_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class ScoringSettings(BaseServiceSettings):
    """The scoring service's settings."""

    model_config = SettingsConfigDict(env_prefix="AGRIFIN_SCORING_", extra="ignore", populate_by_name=True)

    service_name: str = "scoring"
    port: int = 8001
