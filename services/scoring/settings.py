"""Settings of the scoring service (environment prefix ``AGRIFIN_SCORING_``).

Decision hint (a hint for the loan officer, never an automated decision): ``approve`` when
the score is at least ``approve_min_score`` (default 580), ``decline`` when it is below
``decline_below_score`` (default 520), ``review`` in between. On the default scale 580
points is a probability of default of about 3.8 % (good:bad odds 25:1) and 520 points
about 24 % (odds 3.1:1).

Score scale: ``score_base_points`` points at good:bad odds ``score_base_odds``:1 and
``score_pdo`` points to double the odds (600 at 50:1, PDO 20). The grade cut-offs
(A ≥ 600, B ≥ 570, C ≥ 540, D ≥ 510, E below) are defined on that default scale; a model
trained on another scale keeps those cut-offs. The scale is stored with every model, so
changing it only affects models trained afterwards.

Loans tells scoring what became of the loans its scores decided (``loan.outcome`` events to
``POST /v1/inbound/loans``). Scoring subscribes itself to them through loans' API
(``service.loans_subscription``) with its own credential, ``service:scoring``: the
``AGRIFIN_SCORING_LOANS_API_KEY``, else that entry of ``<var_dir>/dev-keys.json`` (written
by ``agrifin bootstrap``). An operator who made the subscription by hand sets
``AGRIFIN_SCORING_LOANS_WEBHOOK_SECRET`` instead, and scoring leaves loans alone.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.scoring.domain.scale import HintRule, ScoreScale
from shared.platform import ServiceContext
from shared.self_subscription import SubscriptionFile
from shared.settings import BaseServiceSettings, dev_credential

LOANS_SECRET_FILE = "loans-webhook.secret"  # noqa: S105 - a file name, not a secret

DEV_CREDENTIAL = "service:scoring"
"""Scoring's own entry in ``dev-keys.json`` (never a key shared by every service)."""


class ScoringSettings(BaseServiceSettings):
    """The scoring service's settings."""

    model_config = SettingsConfigDict(env_prefix="AGRIFIN_SCORING_", extra="ignore", populate_by_name=True)

    service_name: str = "scoring"
    port: int = 8001
    model_store_dir: Path | None = Field(
        default=None, description="Model artifacts; <var_dir>/models when unset."
    )
    model_cache_size: int = Field(default=32, ge=1, le=1024)
    approve_min_score: float = 580.0
    decline_below_score: float = 520.0
    score_base_points: float = 600.0
    score_base_odds: float = Field(default=50.0, gt=0)
    score_pdo: float = Field(default=20.0, gt=0)
    bootstrap_rows: int = Field(default=50_000, ge=200, le=5_000_000)
    bootstrap_seed: int = Field(default=42, ge=0)
    train_max_rows: int = Field(default=200_000, ge=200, description="Largest POST /v1/models/train.")
    training_upload_max_bytes: int = Field(
        default=50 * 1024 * 1024,
        ge=1024,
        description="Largest training data file POST /v1/training-data and POST /v1/models/train accept.",
    )
    shadow_max_challengers: int = Field(default=3, ge=0, le=20)
    monitoring_window_days: int = Field(default=30, ge=1)
    monitoring_max_rows: int = Field(default=100_000, ge=100)
    loans_url: str = "http://127.0.0.1:8003"
    loans_api_key: str | None = None
    loans_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    loans_subscribe_interval_seconds: float = Field(default=10.0, gt=0)
    public_url: str | None = None
    """Where loans reaches scoring (default ``http://<host>:<port>``)."""
    loans_webhook_secret: str | None = None
    """Secret of scoring's subscription to loans' events (``loan.outcome``), when the operator
    made the subscription; unset, scoring subscribes itself through loans' API (the worker's
    ``scoring.loans.subscribe``) and keeps the secret in ``<var_dir>/loans-webhook.secret``."""

    @property
    def resolved_model_store_dir(self) -> Path:
        """Directory of the model store (``<store>/<segment>/<version>/``)."""
        return self.model_store_dir if self.model_store_dir is not None else self.var_dir / "models"

    @property
    def inbound_loans_url(self) -> str:
        """The URL loans delivers scoring's events to."""
        base = self.public_url or f"http://{self.host}:{self.port}"
        return f"{base.rstrip('/')}/v1/inbound/loans"

    @property
    def resolved_loans_api_key(self) -> str | None:
        """The configured loans key, else scoring's development credential (``service:scoring``)."""
        return self.loans_api_key or dev_credential(self.var_dir, DEV_CREDENTIAL)

    @property
    def loans_subscription_file(self) -> SubscriptionFile:
        """Where scoring keeps its own subscription to loans (``<var_dir>/loans-webhook.secret``)."""
        return SubscriptionFile(self.var_dir / LOANS_SECRET_FILE)

    @property
    def resolved_loans_webhook_secret(self) -> str | None:
        """The configured loans webhook secret, else the one scoring's own subscription wrote."""
        if self.loans_webhook_secret:
            return self.loans_webhook_secret
        return self.loans_subscription_file.read()[1]

    @property
    def score_scale(self) -> ScoreScale:
        """The points scale new models are trained with."""
        return ScoreScale(self.score_base_points, self.score_base_odds, self.score_pdo)

    def decision_hint(self, score: float) -> str:
        """``approve`` / ``review`` / ``decline`` for a score (see the module docstring)."""
        return HintRule.of(self).hint(score)

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> ScoringSettings:
        if self.decline_below_score > self.approve_min_score:
            raise ValueError("decline_below_score must not exceed approve_min_score")
        return self


ScoringContext = ServiceContext[ScoringSettings]
"""The scoring service's context: ``ctx.settings`` is a :class:`ScoringSettings`."""
