"""docker-compose.yml describes a real deployment (Docker itself does not run here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_postgres_and_every_process_are_declared() -> None:
    assert set(_compose()["services"]) == {"postgres", "scoring", "escrow", "loans", "console", "worker"}


def test_services_build_from_one_image_with_their_own_database_and_port() -> None:
    services = _compose()["services"]
    ports = {"scoring": 8001, "escrow": 8002, "loans": 8003, "console": 8000}
    for name, port in ports.items():
        svc = services[name]
        env = svc["environment"]
        assert svc["build"] == "." and svc["image"] == "agrifin:latest"
        assert env[f"AGRIFIN_{name.upper()}_DATABASE_URL"].endswith(f"@postgres:5432/{name}")
        assert env[f"AGRIFIN_{name.upper()}_PORT"] == str(port)
        assert env["AGRIFIN_ENV"] == "production"
        assert svc["ports"] == [f"{port}:{port}"]
        probe = " ".join(svc["healthcheck"]["test"])
        assert "/readyz" in probe and str(port) in probe
        assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["worker"]["command"] == ["agrifin", "worker"]
    assert services["worker"]["build"] == "."
    assert "healthcheck" in services["postgres"] and "healthcheck" in services["worker"]


def test_dockerfile_installs_from_the_lock() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "pip install --no-cache-dir -r requirements.lock" in text
