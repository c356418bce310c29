"""Loans settings: the scoring client's URL, key and timeout."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from services.loans.service.scoring import build_scoring_client, score_idempotency_key
from services.loans.settings import LoansSettings


def test_defaults_and_the_development_service_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGRIFIN_VAR_DIR", str(tmp_path))
    settings = LoansSettings()
    assert settings.scoring_url == "http://127.0.0.1:8001" and settings.scoring_timeout_seconds == 5.0
    assert settings.resolved_scoring_api_key is None
    # Loans reads its own credential, never another service's nor a key shared by all of them.
    (tmp_path / "dev-keys.json").write_text(json.dumps({"service": "shared", "service:escrow": "esc"}))
    assert LoansSettings().resolved_scoring_api_key is None
    keys = {"service:escrow": "agf_serv_esc", "service:loans": "agf_serv_dev", "admin": "x"}
    (tmp_path / "dev-keys.json").write_text(json.dumps(keys))
    assert LoansSettings().resolved_scoring_api_key == "agf_serv_dev"
    assert LoansSettings().resolved_escrow_api_key == "agf_serv_dev"
    monkeypatch.setenv("AGRIFIN_LOANS_SCORING_API_KEY", "agf_serv_prod")
    monkeypatch.setenv("AGRIFIN_LOANS_SCORING_URL", "http://scoring:8001")
    settings = LoansSettings()
    assert (
        settings.resolved_scoring_api_key == "agf_serv_prod" and settings.scoring_url == "http://scoring:8001"
    )


def test_the_client_sends_the_key_to_the_configured_url(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            201,
            json={
                "id": "s1",
                "segment": "farmer",
                "subject_id": "b1",
                "score": 611.5,
                "pd": 0.05,
                "grade": "C",
                "decision_hint": "approve",
                "reasons": [],
            },
        )

    settings = LoansSettings(
        scoring_url="http://scoring.example:9000",
        scoring_api_key="k",
        scoring_timeout_seconds=3,
        var_dir=tmp_path,
    )
    client = build_scoring_client(settings, transport=httpx.MockTransport(handler))
    result = client.score(
        segment="farmer", subject_id="b1", features={}, idempotency_key=score_idempotency_key("a1")
    )
    assert str(result.score) == "611.5" and result.decision_hint == "approve"
    (request,) = seen
    assert str(request.url) == "http://scoring.example:9000/v1/scores"
    assert request.headers["authorization"] == "Bearer k"
    assert request.headers["idempotency-key"] == "loans-application-a1"
