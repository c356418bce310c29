"""Settings of the escrow service (environment prefix ``AGRIFIN_ESCROW_``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class EscrowSettings(BaseServiceSettings):
    """The escrow service's settings."""

    model_config = SettingsConfigDict(env_prefix="AGRIFIN_ESCROW_", extra="ignore", populate_by_name=True)

    service_name: str = "escrow"
    port: int = 8002
