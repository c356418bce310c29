"""The model registry pages: champions per segment, the champion history (who, when), a
version's model card rendered as escaped HTML."""

from __future__ import annotations

import re
from typing import cast

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from services.scoring.domain.model import TrainedModel
from services.scoring.repository.artifacts import build_store
from services.scoring.service.registry import register_model
from services.scoring.settings import ScoringContext
from shared.auth import ACTING_PERSON_HEADER, ACTING_ROLE_HEADER, Role
from shared.clock import ManualClock
from tests.console.kit import World
from tests.support import auth


@pytest.fixture
def auditor(world: World) -> TestClient:
    return world.signed_in("ada", Role.AUDITOR)


def challenger(world: World, model: TrainedModel, *, source: str = "synthetic:again") -> str:
    """Register another version of ``model``'s segment (a challenger); its version."""
    ctx = cast(ScoringContext, world.contexts["scoring"])
    with ctx.db.unit_of_work() as session:
        return register_model(
            session, ctx, build_store(ctx), model=model, actor="test:setup", data_source=source
        ).version


def promote_as_person(world: World, version: str, username: str) -> None:
    """Promote through the console's credential acting for a credit manager (as a console page would)."""
    answer = world.apps["scoring"].post(
        f"/v1/models/{version}/promote",
        headers={
            **auth(world.console_ctx.settings.resolved_api_key or ""),
            ACTING_PERSON_HEADER: username,
            ACTING_ROLE_HEADER: Role.CREDIT_MANAGER.value,
        },
    )
    assert answer.status_code == 200, answer.text


def test_the_registry_lists_each_segments_champion_and_the_promotions_with_who_and_when(
    world: World, auditor: TestClient, clock: ManualClock, console_models: dict[str, TrainedModel]
) -> None:
    v2 = challenger(world, console_models["farmer"])
    page = auditor.get("/models")
    assert page.status_code == 200, page.text
    assert "<h2" in page.text and "Segment farmer" in page.text and "Segment enterprise" in page.text
    assert 'Champion: <a href="/models/farmer-v1">farmer-v1</a>' in page.text
    assert 'Champion: <a href="/models/enterprise-v1">enterprise-v1</a>' in page.text
    assert re.search(r'farmer-v2</a></th>\s*<td><span class="badge">challenger</span>', page.text)

    promote_as_person(world, v2, "bob")
    page = auditor.get("/models")
    assert 'Champion: <a href="/models/farmer-v2">farmer-v2</a>' in page.text
    assert re.search(r'farmer-v1</a></th>\s*<td><span class="badge">retired</span>', page.text)
    history = page.text.split("Promotions of farmer", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", history, flags=re.S)[1:]  # the header row first
    assert len(rows) == 2  # newest first: bob's promotion, then the first champion
    assert 'href="/models/farmer-v2"' in rows[0] and 'href="/models/farmer-v1"' in rows[0]
    assert ">bob</span> (Credit manager)" in rows[0]
    assert "2 Mar 2026, 08:00:00 UTC" in rows[0]  # when (the test clock)
    assert "none (first champion)" in rows[1] and "<code>test:setup</code>" in rows[1]


def test_a_model_page_renders_its_card_escaped_and_its_promotions(
    world: World, auditor: TestClient, console_models: dict[str, TrainedModel]
) -> None:
    v2 = challenger(world, console_models["farmer"], source="<script>alert(1)</script>")
    promote_as_person(world, v2, "bob")
    card = world.api("scoring", "GET", f"/v1/models/{v2}/card")
    page = auditor.get(f"/models/{v2}")
    assert page.status_code == 200, page.text
    text = page.text
    assert f"<h1>Model {v2}</h1>" in text
    assert "<script>alert(1)</script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<h2>Model card</h2>" in text
    for heading in ("Intended use", "Out-of-scope use", "Limitations", "Monotone constraints", "Calibration"):
        assert re.search(rf"<h3 id=\"card-\d+\">{heading}</h3>", text), heading
    assert str(escape(card["intended_use"][0])) in text
    assert card["model"]["artifact_sha256"] in text
    for driver in card["top_drivers"]:
        assert f"<td>{driver['code']}</td>" in text
    promotions = text.split("<h2>Promotions</h2>", 1)[1].split("</table>", 1)[0]
    assert ">bob</span> (Credit manager)" in promotions and 'href="/models/farmer-v1"' in promotions
    first = auditor.get("/models/enterprise-v1")
    assert "none (first champion)" in first.text and "<code>test:setup</code>" in first.text


def test_an_unknown_version_is_a_404_page(auditor: TestClient) -> None:
    page = auditor.get("/models/farmer-v99")
    assert page.status_code == 404 and "Not found" in page.text


def test_a_loan_officer_gets_the_403_page(world: World) -> None:
    officer = world.signed_in("amina", Role.LOAN_OFFICER)
    for path in ("/models", "/models/farmer-v1"):
        page = officer.get(path)
        assert page.status_code == 403 and "Not for your role" in page.text
