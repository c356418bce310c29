"""Settings of the loans service (environment prefix ``AGRIFIN_LOANS_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class LoansSettings(BaseServiceSettings):
    """The loans service's settings."""

    model_config = SettingsConfigDict(env_prefix="AGRIFIN_LOANS_", extra="ignore", populate_by_name=True)

    service_name: str = "loans"
    port: int = 8003
