"""Settings of the console (environment prefix ``AGRIFIN_CONSOLE_``).

The console calls scoring, escrow and loans with its own credential, ``service:console`` (a
``service`` key owned by ``console``), naming the signed-in person in the acting headers
(``shared.auth``). In the embedded default the key comes from the ``service:console`` entry of
``<var_dir>/dev-keys.json`` when ``AGRIFIN_CONSOLE_API_KEY`` is not set.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.platform import ServiceContext
from shared.settings import BaseServiceSettings, dev_credential

DEV_CREDENTIAL = "service:console"
DEV_USERS_FILE = "dev-users.json"


class ConsoleSettings(BaseServiceSettings):
    """The console's settings."""

    model_config = SettingsConfigDict(env_prefix="AGRIFIN_CONSOLE_", extra="ignore", populate_by_name=True)

    service_name: str = "console"
    port: int = 8000
    scoring_url: str = "http://127.0.0.1:8001"
    escrow_url: str = "http://127.0.0.1:8002"
    loans_url: str = "http://127.0.0.1:8003"
    api_key: str | None = None
    """The console's credential in every service (``service:console``)."""
    backend_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    """A session that sees no request for this long ends."""
    session_max_hours: int = Field(default=12, ge=1, le=24 * 7)
    """A session ends this long after sign-in, however active."""
    login_max_failures_per_user: int = Field(default=5, ge=1, le=100)
    login_max_failures_per_address: int = Field(default=20, ge=1, le=10_000)
    login_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    """Failures are counted over this window; reaching a limit locks sign-in for the window."""

    @property
    def resolved_api_key(self) -> str | None:
        """The configured key, else the console's development credential (``service:console``)."""
        return self.api_key or dev_credential(self.var_dir, DEV_CREDENTIAL)

    @property
    def secure_cookies(self) -> bool:
        """Session cookies are ``Secure`` in production (served over HTTPS)."""
        return self.env == "production"


ConsoleContext = ServiceContext[ConsoleSettings]
"""The console's context: its settings typed as ``ConsoleSettings``."""
