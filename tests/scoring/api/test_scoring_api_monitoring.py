"""Monitoring: PSI flags a shifted population; the fairness ratio is reported."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from services.scoring.domain.synthetic import generate
from shared.auth import Role
from shared.clock import ManualClock, utc_iso
from tests.factories.scoring import frame_to_requests
from tests.scoring.kit import post_score
from tests.support import assert_problem as problem

Headers = Callable[[Role], dict[str, str]]
ROWS = 150


def _score_all(client: TestClient, headers: Headers, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    officer = headers(Role.LOAN_OFFICER)
    out = []
    for i, body in enumerate(bodies):
        body["monitoring"] = {"group": "north" if i % 3 else "south"}
        out.append(post_score(client, officer, body))
    return out


def _report(client: TestClient, headers: Headers, since: str) -> dict[str, Any]:
    response = client.get(
        "/v1/monitoring/psi", params={"segment": "farmer", "since": since}, headers=headers(Role.AUDITOR)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_psi_flags_a_shifted_sample_and_fairness_is_reported(
    client: TestClient, headers: Headers, clock: ManualClock
) -> None:
    start = utc_iso(clock.now())
    like_training = _score_all(client, headers, frame_to_requests(generate("farmer", ROWS, 101), "farmer"))
    stable = _report(client, headers, start)
    assert stable["rows"] == ROWS and stable["skipped_rows"] == 0
    assert stable["features"]["land_area_ha"]["psi"] < 0.25

    clock.advance(timedelta(days=1))
    shifted_since = utc_iso(clock.now())
    shifted_frame = generate("farmer", ROWS, 202)
    shifted_frame["land_area_ha"] = (shifted_frame["land_area_ha"] * 15).clip(upper=500.0)
    shifted_frame["on_time_repayment_rate"] = shifted_frame["on_time_repayment_rate"] * 0.5
    _score_all(client, headers, frame_to_requests(shifted_frame, "farmer", prefix="shifted"))
    shifted = _report(client, headers, shifted_since)
    assert shifted["rows"] == ROWS
    assert shifted["features"]["land_area_ha"]["band"] == "significant"
    assert shifted["features"]["on_time_repayment_rate"]["band"] == "significant"
    assert shifted["features"]["land_area_ha"]["psi"] > stable["features"]["land_area_ha"]["psi"]
    assert shifted["score"]["band"] in ("moderate", "significant")
    assert shifted["bands"]["significant"] == "psi >= 0.25"
    land = shifted["features"]["land_area_ha"]
    assert land["kind"] == "numeric" and len(land["bins"]) == len(land["edges"]) + 2
    assert sum(b["actual"] for b in land["bins"][-3:-1]) > sum(b["expected"] for b in land["bins"][-3:-1])
    tenure = shifted["features"]["land_tenure"]
    assert tenure["edges"] is None and [b["label"] for b in tenure["bins"]][-1] == "missing"
    assert shifted["score"]["bins"] and all(
        set(b) == {"label", "expected", "actual"} for b in shifted["score"]["bins"]
    )

    fairness = stable["fairness"]
    hints = np.array([o["decision_hint"] == "approve" for o in like_training])
    groups = np.array(["north" if i % 3 else "south" for i in range(ROWS)])
    rates = {g: float(hints[groups == g].mean()) for g in ("north", "south")}
    assert fairness["counts"] == {"north": 100, "south": 50}
    assert fairness["rates"] == rates
    expected = min(rates.values()) / max(rates.values()) if max(rates.values()) > 0 else 1.0
    assert fairness["ratio"] == expected and fairness["flagged"] == (expected < 0.8)

    whole = _report(client, headers, start)
    assert whole["rows"] == 2 * ROWS and whole["fairness"]["rows"] == 2 * ROWS


def test_monitoring_access_and_unknown_segment(client: TestClient, headers: Headers) -> None:
    for role in (Role.CREDIT_MANAGER, Role.ADMIN, Role.AUDITOR):
        response = client.get("/v1/monitoring/psi", params={"segment": "farmer"}, headers=headers(role))
        assert response.status_code == 200
        assert response.json()["rows"] == 0 and response.json()["fairness"] is None
    for role in (Role.LOAN_OFFICER, Role.MARKETPLACE):
        problem(client.get("/v1/monitoring/psi", params={"segment": "farmer"}, headers=headers(role)), 403)
    problem(client.get("/v1/monitoring/psi", params={"segment": "nope"}, headers=headers(Role.AUDITOR)), 404)
