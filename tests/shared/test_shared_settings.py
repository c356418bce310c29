"""Production refuses development secrets and missing keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.escrow.settings import EscrowSettings
from shared.crypto import Keyring

PG = "postgresql://agrifin@db/escrow"


def test_development_defaults_point_under_var(tmp_path: Path) -> None:
    settings = EscrowSettings(var_dir=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'escrow.db'}"
    assert settings.port == 8002
    assert settings.resolved_keys_dir == tmp_path / "keys"


def test_environment_overrides_port_and_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGRIFIN_ESCROW_PORT", "9102")
    monkeypatch.setenv("AGRIFIN_ESCROW_DATABASE_URL", PG)
    settings = EscrowSettings()
    assert (settings.port, settings.database_url) == (9102, PG)


def test_production_refuses_missing_keys(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="signing keys"):
        EscrowSettings(env="production", keys_dir=tmp_path, database_url=PG)


def test_production_refuses_development_keys(tmp_path: Path) -> None:
    Keyring.generate(tmp_path, development=True)
    with pytest.raises(ValidationError, match="development keys"):
        EscrowSettings(env="production", keys_dir=tmp_path, database_url=PG)


def test_production_refuses_sqlite(tmp_path: Path) -> None:
    Keyring.generate(tmp_path, development=False)
    with pytest.raises(ValidationError, match="PostgreSQL"):
        EscrowSettings(env="production", keys_dir=tmp_path, var_dir=tmp_path)


def test_production_starts_on_provisioned_keys(tmp_path: Path) -> None:
    Keyring.generate(tmp_path, development=False)
    assert EscrowSettings(env="production", keys_dir=tmp_path, database_url=PG).env == "production"
