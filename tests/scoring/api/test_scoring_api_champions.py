"""Champion history: every promotion is recorded with who and when, served per segment and per version."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.scoring.domain.model import TrainedModel
from services.scoring.models import Promotion
from services.scoring.repository.artifacts import ModelStore
from services.scoring.service.registry import register_model
from services.scoring.settings import ScoringContext
from shared.audit import audit_entries
from shared.auth import ACTING_PERSON_HEADER, ACTING_ROLE_HEADER, Role
from shared.clock import ManualClock, utc_iso
from tests.support import assert_problem as problem
from tests.support import auth, count_rows, issue_key

Headers = Callable[[Role], dict[str, str]]


@pytest.fixture
def challengers(
    ctx: ScoringContext, store: ModelStore, trained_models: dict[str, TrainedModel], champions: dict[str, str]
) -> list[str]:
    """Two farmer challengers beside the champion (``farmer-v1``)."""
    with ctx.db.unit_of_work() as session:
        return [
            register_model(
                session,
                ctx,
                store,
                model=trained_models["farmer"],
                actor="test:setup",
                data_source=f"again-{i}",
            ).version
            for i in range(2)
        ]


@pytest.fixture
def console_as(ctx: ScoringContext) -> Callable[[str, Role], dict[str, str]]:
    """Headers of the console's credential acting for a person."""
    key = issue_key(ctx, Role.SERVICE, "console")

    def acting(person: str, role: Role) -> dict[str, str]:
        return auth(key, **{ACTING_PERSON_HEADER: person, ACTING_ROLE_HEADER: role.value})

    return acting


def _history(client: TestClient, headers: Headers, segment: str = "farmer", **params: Any) -> dict[str, Any]:
    response = client.get(f"/v1/segments/{segment}/champions", params=params, headers=headers(Role.AUDITOR))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_promotions_name_the_person_and_the_champion_they_replaced(
    client: TestClient,
    headers: Headers,
    clock: ManualClock,
    champions: dict[str, str],
    challengers: list[str],
    console_as: Callable[[str, Role], dict[str, str]],
) -> None:
    first = champions["farmer"]
    v2, v3 = challengers
    setup_time = clock.now()
    clock.advance(timedelta(days=1))
    by_alice = client.post(f"/v1/models/{v2}/promote", headers=console_as("alice", Role.CREDIT_MANAGER))
    assert by_alice.status_code == 200, by_alice.text
    alice_time = clock.now()
    clock.advance(timedelta(days=1))
    assert client.post(f"/v1/models/{v3}/promote", headers=headers(Role.ADMIN)).status_code == 200
    clock.advance(timedelta(days=1))
    back = client.post(f"/v1/models/{first}/promote", headers=console_as("bob", Role.ADMIN))
    assert back.status_code == 200, back.text

    history = _history(client, headers)
    assert history["segment"] == "farmer" and history["champion_version"] == first
    rows = [(p["version"], p["previous_version"]) for p in history["promotions"]]
    assert rows == [(first, v3), (v3, v2), (v2, first), (first, None)]
    alice = history["promotions"][2]
    assert re.fullmatch(r"person:alice:credit_manager:via:[^:]+", alice["promoted_by"]), alice
    assert alice["promoted_at"] == utc_iso(alice_time)
    assert history["promotions"][0]["promoted_by"].startswith("person:bob:admin:via:")
    assert history["promotions"][1]["promoted_by"].startswith("admin:")
    assert history["promotions"][3] == {
        "segment": "farmer",
        "version": first,
        "previous_version": None,
        "promoted_at": utc_iso(setup_time),
        "promoted_by": "test:setup",
    }
    assert history["next_offset"] is None

    detail = client.get(f"/v1/models/{first}", headers=headers(Role.LOAN_OFFICER)).json()
    assert [p["previous_version"] for p in detail["promotions"]] == [v3, None]  # promoted twice
    assert detail["promoted_by"] == history["promotions"][0]["promoted_by"]  # the latest one
    assert client.get(f"/v1/models/{v2}", headers=headers(Role.AUDITOR)).json()["promotions"] == [alice]


def test_the_audit_entry_and_the_history_agree(
    client: TestClient,
    ctx: ScoringContext,
    challengers: list[str],
    console_as: Callable[[str, Role], dict[str, str]],
) -> None:
    version = challengers[0]
    assert (
        client.post(f"/v1/models/{version}/promote", headers=console_as("carol", Role.ADMIN)).status_code
        == 200
    )
    with ctx.db.unit_of_work(read_only=True) as session:
        entries = audit_entries(session, ctx.tables, subject=f"model:{version}")
    promoted = [e for e in entries if e["action"] == "model.promoted"]
    assert len(promoted) == 1 and promoted[0]["actor"].startswith("person:carol:admin:via:")
    detail = client.get(f"/v1/models/{version}", headers=console_as("dan", Role.AUDITOR)).json()
    assert detail["promotions"][0]["promoted_by"] == promoted[0]["actor"]
    assert detail["promotions"][0]["previous_version"] == promoted[0]["payload"]["previous_champion"]


def test_a_refused_promotion_records_nothing(
    client: TestClient,
    ctx: ScoringContext,
    headers: Headers,
    champions: dict[str, str],
    challengers: list[str],
) -> None:
    before = count_rows(ctx, Promotion.__table__)
    problem(client.post(f"/v1/models/{champions['farmer']}/promote", headers=headers(Role.ADMIN)), 409)
    problem(client.post(f"/v1/models/{challengers[0]}/promote", headers=headers(Role.AUDITOR)), 403)
    problem(client.post(f"/v1/models/{challengers[0]}/promote", headers=headers(Role.LOAN_OFFICER)), 403)
    assert count_rows(ctx, Promotion.__table__) == before == 2  # the two champions' first promotions


def test_history_pages_and_unknown_segments(
    client: TestClient, headers: Headers, champions: dict[str, str], challengers: list[str]
) -> None:
    for version in [*challengers, champions["farmer"]]:
        assert client.post(f"/v1/models/{version}/promote", headers=headers(Role.ADMIN)).status_code == 200
    whole = [p["version"] for p in _history(client, headers)["promotions"]]
    first = _history(client, headers, limit=3)
    rest = _history(client, headers, limit=3, offset=first["next_offset"])
    assert first["next_offset"] == 3 and rest["next_offset"] is None
    assert [p["version"] for p in first["promotions"] + rest["promotions"]] == whole and len(whole) == 4
    assert rest["champion_version"] == champions["farmer"]  # the champion now, on every page
    enterprise = _history(client, headers, "enterprise")
    assert [p["version"] for p in enterprise["promotions"]] == [champions["enterprise"]]
    problem(client.get("/v1/segments/nope/champions", headers=headers(Role.AUDITOR)), 404)
    problem(client.get("/v1/segments/farmer/champions", headers=headers(Role.MARKETPLACE)), 403)
    problem(client.get("/v1/segments/farmer/champions"), 401)
