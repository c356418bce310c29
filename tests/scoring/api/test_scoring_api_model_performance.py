"""The model card's performance section and its chart: the card's figures are the performance
endpoint's for that version; ``card.md`` links the chart; ``performance.svg`` is well-formed,
accessible SVG in English or Chinese, read by the card's readers and no one else."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.scoring.settings import ScoringContext
from shared.auth import Role
from shared.clock import ManualClock
from tests.scoring.api.test_scoring_api_performance import ROWS, Headers, _seed
from tests.support import assert_problem

SVG = "{http://www.w3.org/2000/svg}"


def _svg(response: Any) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    return ET.fromstring(response.content)


@pytest.fixture
def seeded(client: TestClient, headers: Headers, ctx: ScoringContext, clock: ManualClock) -> None:
    """ROWS decisions with outcomes (``_seed``); then 500 days pass, so the loans have matured."""
    _seed(client, headers, ctx)
    clock.advance(timedelta(days=500))


def test_the_card_reports_the_versions_performance_as_the_endpoint_does(
    client: TestClient, headers: Headers, champions: dict[str, str], seeded: None
) -> None:
    version = champions["farmer"]
    card = client.get(f"/v1/models/{version}/card", headers=headers(Role.AUDITOR))
    assert card.status_code == 200, card.text
    section = card.json()["performance"]
    report = client.get(
        "/v1/monitoring/performance",
        params={"segment": "farmer", "model_version": version},
        headers=headers(Role.AUDITOR),
    ).json()
    assert report.pop("segment") == "farmer" and report.pop("model_version") == version
    assert section == {**report, "chart": f"/v1/models/{version}/performance.svg"}
    assert section["decisions"] == ROWS and section["matured"] == 20
    assert list(card.json())[-2:] == ["performance", "limitations"]

    other = client.get(f"/v1/models/{champions['enterprise']}/card", headers=headers(Role.AUDITOR))
    assert other.json()["performance"]["decisions"] == 0  # another version's decisions are not its own

    text = client.get(f"/v1/models/{version}/card.md", headers=headers(Role.AUDITOR)).text
    assert f"## Performance on outcomes (as of {section['as_of']})" in text
    assert f"](/v1/models/{version}/performance.svg)" in text
    for g in section["grades"]:
        rate = "—" if g["default_rate"] is None else f"{g['default_rate']:.1%}"
        assert f"| {g['grade']} | {g['matured']} | {g['defaulted']} | {rate} |" in text
    assert f"on {section['discrimination']['matured']} matured loans" in text


def test_the_chart_draws_the_grades_of_the_card(
    client: TestClient, headers: Headers, champions: dict[str, str], seeded: None
) -> None:
    version = champions["farmer"]
    section = client.get(f"/v1/models/{version}/card", headers=headers(Role.AUDITOR)).json()["performance"]
    root = _svg(client.get(f"/v1/models/{version}/performance.svg", headers=headers(Role.AUDITOR)))
    assert root.tag == f"{SVG}svg" and root.get("role") == "img" and root.get("lang") == "en"
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and desc is not None and desc.text is not None
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert (
        title.text == f"{version}: realised default rate vs predicted PD per grade, as of {section['as_of']}"
    )
    drawn = [g for g in section["grades"] if g["default_rate"] is not None]
    assert drawn  # the seeded loans matured in some grades
    realised = root.findall(f".//{SVG}rect[@class='realised']")
    predicted = root.findall(f".//{SVG}rect[@class='predicted']")
    assert len(realised) == len(predicted) == len(drawn)
    for g, bar in zip(drawn, realised, strict=True):
        label = bar.find(f"{SVG}title")
        assert label is not None and label.text == f"Grade {g['grade']} realised {g['default_rate']:.1%}"
        assert f"{g['matured']} matured loans, {g['defaulted']} defaulted" in desc.text

    zh = _svg(client.get(f"/v1/models/{version}/performance.svg?lang=zh", headers=headers(Role.AUDITOR)))
    zh_title = zh.find(f"{SVG}title")
    assert zh.get("lang") == "zh" and zh_title is not None and "实际违约率" in (zh_title.text or "")


def test_a_version_without_loans_says_so(
    client: TestClient, headers: Headers, champions: dict[str, str]
) -> None:
    root = _svg(
        client.get(f"/v1/models/{champions['farmer']}/performance.svg", headers=headers(Role.AUDITOR))
    )
    assert root.findall(f".//{SVG}rect") == []
    desc = root.find(f"{SVG}desc")
    assert desc is not None and (desc.text or "").count("no matured loans") == 5
    assert_problem(client.get("/v1/models/farmer-v999/performance.svg", headers=headers(Role.AUDITOR)), 404)


@pytest.mark.parametrize(
    "role", [Role.LOAN_OFFICER, Role.CREDIT_MANAGER, Role.AUDITOR, Role.ADMIN, Role.SERVICE]
)
def test_the_cards_readers_read_the_chart(
    client: TestClient, headers: Headers, champions: dict[str, str], role: Role
) -> None:
    """The card's readers (service: loans' credential) read its chart too."""
    _svg(client.get(f"/v1/models/{champions['farmer']}/performance.svg", headers=headers(role)))


def test_no_one_else_reads_it(client: TestClient, headers: Headers, champions: dict[str, str]) -> None:
    path = f"/v1/models/{champions['farmer']}/performance.svg"
    assert_problem(client.get(path, headers=headers(Role.MARKETPLACE)), 403)
    assert_problem(client.get(path), 401)
