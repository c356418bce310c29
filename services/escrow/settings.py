"""Settings of the escrow service (environment prefix ``AGRIFIN_ESCROW_``)."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from shared.platform import ServiceContext
from shared.settings import BaseServiceSettings


class EscrowSettings(BaseServiceSettings):
    """The escrow service's settings."""

    model_config = SettingsConfigDict(env_prefix="AGRIFIN_ESCROW_", extra="ignore", populate_by_name=True)

    service_name: str = "escrow"
    port: int = 8002

    default_provider: str = "sandbox"
    """The payment provider that funds escrows and sends payouts."""

    provider_secrets: dict[str, str] = Field(default_factory=dict)
    """Callback signing secret per provider (JSON in ``AGRIFIN_ESCROW_PROVIDER_SECRETS``).

    A provider without one here uses a secret derived from the keyring's lookup key, so the
    embedded default needs no configuration and still never accepts an unsigned callback.
    """

    sandbox_enabled: bool | None = None
    """Serve the sandbox's ``/v1/sandbox/...`` helper routes and let the worker confirm sandbox
    payments; None (the default) means on everywhere except production."""

    sandbox_auto_confirm: bool = True
    """Let the worker confirm pending sandbox payments and settle sandbox payouts (only when
    ``sandbox_enabled``)."""

    sandbox_confirm_after_seconds: int = Field(default=2, ge=0)
    """How old a pending sandbox payment or payout must be before the worker confirms it."""

    auto_payout: bool = False
    """Let the worker pay every seller's whole payable balance out (off: payouts are explicit)."""

    job_batch_size: int = Field(default=100, ge=1, le=10_000)
    """Rows one run of a periodic job processes at most."""

    max_deadline_days: int = Field(default=730, ge=1, le=3_650)
    """How far ahead a funding or delivery deadline may lie (days from now)."""

    max_amount_minor: int = Field(default=10**12, ge=1, le=10**15)
    """Largest escrow total, lot or assignment cap in minor units (unless the currency has its own)."""

    max_amount_minor_by_currency: dict[str, int] = Field(default_factory=dict)
    """Per-currency overrides of ``max_amount_minor`` (JSON: ``{"UGX": 100000000000000}``)."""

    @field_validator("max_amount_minor_by_currency")
    @classmethod
    def _bounded_maxima(cls, value: dict[str, int]) -> dict[str, int]:
        # Every sum of amounts stays far inside BIGINT (the schemas cap any amount at 10^15).
        for currency, maximum in value.items():
            if not 1 <= maximum <= 10**15:
                raise ValueError(f"the maximum for {currency} must be between 1 and 10^15")
        return value

    def max_amount_for(self, currency: str) -> int:
        """The largest amount accepted in ``currency`` (minor units)."""
        return self.max_amount_minor_by_currency.get(currency, self.max_amount_minor)

    @model_validator(mode="after")
    def _sandbox_off_in_production(self) -> EscrowSettings:
        # Sandbox helpers confirm payments nobody made; production must opt in explicitly.
        if self.sandbox_enabled is None:
            self.sandbox_enabled = self.env != "production"
        return self


EscrowContext = ServiceContext[EscrowSettings]
"""The escrow service's context: its settings typed as ``EscrowSettings``."""
