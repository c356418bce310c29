"""Settings of the loans service (environment prefix ``AGRIFIN_LOANS_``).

The scoring and escrow clients need the other service's URL, loans' own credential (a
``service`` key owned by ``loans``: ``service:loans``) and a timeout. In the embedded default
the key comes from the ``service:loans`` entry of ``<var_dir>/dev-keys.json`` (written by
``agrifin bootstrap``) when ``AGRIFIN_LOANS_SCORING_API_KEY`` / ``..._ESCROW_API_KEY`` is not set.
"""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from shared.platform import ServiceContext
from shared.self_subscription import SubscriptionFile
from shared.settings import BaseServiceSettings, dev_credential

ESCROW_SECRET_FILE = "escrow-webhook.secret"  # noqa: S105 - a file name, not a secret


DEV_CREDENTIAL = "service:loans"
"""Loans' own entry in ``dev-keys.json`` (never a key shared by every service)."""


class LoansSettings(BaseServiceSettings):
    """The loans service's settings."""

    model_config = SettingsConfigDict(env_prefix="AGRIFIN_LOANS_", extra="ignore", populate_by_name=True)

    service_name: str = "loans"
    port: int = 8003
    request_threads: int = Field(default=32, ge=1, le=256)
    """Requests one process runs at once in its worker threads: more than the other services'
    8, because an application's thread spends most of its time waiting on escrow and scoring."""
    scoring_url: str = "http://127.0.0.1:8001"
    scoring_api_key: str | None = None
    scoring_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    scoring_retry_interval_seconds: float = Field(default=15.0, gt=0)
    cob_check_interval_seconds: float = Field(default=60.0, gt=0)
    cob_chunk_size: int = Field(default=2_000, ge=1, le=50_000)
    business_date_max_forward_days: int = Field(default=31, ge=1, le=366)
    """How many days one request may move the business date forward (back: a correction)."""
    overpayment_tolerance_minor: int = Field(default=100, ge=0, le=10**12)
    """How much a repayment or sweep may exceed everything the loan still owes (minor units)."""
    max_amount_minor: int = Field(default=10**12, ge=1, lt=2**63)
    """Largest principal or repayment accepted, in minor units (unless the currency has its own)."""
    max_amount_minor_by_currency: dict[str, int] = Field(default_factory=dict)
    """Per-currency overrides of ``max_amount_minor`` (JSON: ``{"UGX": 10000000000000}``)."""
    escrow_url: str = "http://127.0.0.1:8002"
    escrow_api_key: str | None = None
    escrow_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    escrow_subscribe_interval_seconds: float = Field(default=10.0, gt=0)
    lender_party_id: str = Field(default="agrifin-lender", min_length=1, max_length=128)
    """The lender's party in escrow: the assignments loans registers sweep to it."""
    escrow_instructions_interval_seconds: float = Field(default=5.0, gt=0)
    """How often the worker sends loans' pending instructions to escrow (``loans.escrow.instructions``)."""
    public_url: str | None = None
    """Where escrow reaches loans (default ``http://<host>:<port>``)."""
    escrow_webhook_secret: str | None = None
    """Secret of loans' subscription to escrow's events (``assignment.swept``), when the operator
    made the subscription; unset, loans subscribes itself through escrow's API (the worker's
    ``loans.escrow.subscribe``) and keeps the secret in ``<var_dir>/escrow-webhook.secret``."""

    @field_validator("max_amount_minor_by_currency")
    @classmethod
    def _positive_maxima(cls, value: dict[str, int]) -> dict[str, int]:
        for currency, maximum in value.items():
            if not 1 <= maximum < 2**63:
                raise ValueError(f"the maximum for {currency} must be between 1 and 2^63 - 1")
        return value

    def max_amount_for(self, currency: str) -> int:
        """The largest amount accepted in ``currency`` (minor units)."""
        return self.max_amount_minor_by_currency.get(currency, self.max_amount_minor)

    @property
    def inbound_escrow_url(self) -> str:
        """The URL escrow delivers loans' events to."""
        base = self.public_url or f"http://{self.host}:{self.port}"
        return f"{base.rstrip('/')}/v1/inbound/escrow"

    @property
    def resolved_escrow_api_key(self) -> str | None:
        """The configured escrow key, else loans' development credential (``service:loans``)."""
        return self.escrow_api_key or dev_credential(self.var_dir, DEV_CREDENTIAL)

    @property
    def resolved_escrow_webhook_secret(self) -> str | None:
        """The configured escrow webhook secret, else the one loans' own subscription wrote."""
        if self.escrow_webhook_secret:
            return self.escrow_webhook_secret
        return self.stored_escrow_subscription[1]

    @property
    def stored_escrow_subscription(self) -> tuple[str | None, str | None]:
        """(subscription id, secret) of loans' own subscription, from ``<var_dir>/escrow-webhook.secret``.

        One JSON file written atomically, so an id never stands without its secret or the reverse.
        """
        return SubscriptionFile(self.var_dir / ESCROW_SECRET_FILE).read()

    @property
    def resolved_scoring_api_key(self) -> str | None:
        """The configured scoring key, else loans' development credential (``service:loans``)."""
        return self.scoring_api_key or dev_credential(self.var_dir, DEV_CREDENTIAL)


LoansContext = ServiceContext[LoansSettings]
"""The loans service's context: its settings typed as ``LoansSettings``."""
