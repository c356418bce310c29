"""Where the demo finds the running system, and how long it waits for asynchronous effects.

Each service's URL is ``AGRIFIN_DEMO_<SERVICE>_URL`` when set, else
``http://<AGRIFIN_<SERVICE>_HOST or 127.0.0.1>:<AGRIFIN_<SERVICE>_PORT or its default>``, so
the environment that started the system (``make run``, or ``agrifin run`` on other ports)
also points the demo at it. Credentials come from ``<AGRIFIN_VAR_DIR>/dev-keys.json`` and
``dev-users.json``, written by ``agrifin bootstrap``.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORTS = {"console": 8000, "scoring": 8001, "escrow": 8002, "loans": 8003}


def _service_url(name: str) -> str:
    host = os.environ.get(f"AGRIFIN_{name.upper()}_HOST") or "127.0.0.1"
    port = os.environ.get(f"AGRIFIN_{name.upper()}_PORT") or str(DEFAULT_PORTS[name])
    return f"http://{host}:{port}"


class DemoSettings(BaseSettings):
    """The demo's settings (environment prefix ``AGRIFIN_DEMO_``)."""

    model_config = SettingsConfigDict(env_prefix="AGRIFIN_DEMO_", extra="ignore", populate_by_name=True)

    var_dir: Path = Field(default=Path("var"), validation_alias="AGRIFIN_VAR_DIR")
    scoring_url: str = ""
    escrow_url: str = ""
    loans_url: str = ""
    console_url: str = ""
    wait_seconds: float = Field(default=90.0, gt=0, le=3600)
    """How long one asynchronous effect (a sweep, an outcome, a job) may take before the demo stops."""
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    """Timeout of one HTTP call."""

    @model_validator(mode="after")
    def _default_urls(self) -> DemoSettings:
        for name in DEFAULT_PORTS:
            if not getattr(self, f"{name}_url"):
                setattr(self, f"{name}_url", _service_url(name))
        return self
