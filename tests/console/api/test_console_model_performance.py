"""A model page shows how the version's loans performed: scoring's chart (in the person's
language) and the card's figures per grade, with AUC and KS — the numbers of scoring's card."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from shared.auth import Role
from tests.console.api.test_console_performance import seed
from tests.console.kit import World, post_form


@pytest.fixture
def auditor(world: World) -> TestClient:
    return world.signed_in("ada", Role.AUDITOR)


def _performance(text: str) -> str:
    return text.split('<h3 id="card-performance">', 1)[1].split("</section>", 1)[0]


def test_the_model_page_shows_the_chart_and_the_cards_figures(world: World, auditor: TestClient) -> None:
    seed(world)  # 24 farmer decisions of farmer-v1, matured by the test's today
    card = world.api("scoring", "GET", "/v1/models/farmer-v1/card")["performance"]
    assert card["matured"] == 24
    page = auditor.get("/models/farmer-v1")
    assert page.status_code == 200, page.text
    block = _performance(page.text)
    assert block.startswith("How this version&#39;s loans performed</h3>")
    assert '<figure class="chart"><svg' in block and 'role="img"' in block
    assert f"farmer-v1: realised default rate vs predicted PD per grade, as of {card['as_of']}" in block
    rows = re.findall(r'<tr><th scope="row">(\w)</th>(.*?)</tr>', block, flags=re.S)
    assert [grade for grade, _ in rows] == [g["grade"] for g in card["grades"]]
    for (_, cells), g in zip(rows, card["grades"], strict=True):
        assert f'<td class="num">{g["matured"]}</td><td class="num">{g["defaulted"]}</td>' in cells
    d = card["discrimination"]
    assert f'<td class="num">{d["matured"]}</td><td class="num">{d["defaulted"]}</td>' in block
    assert "/performance?segment=farmer&amp;model_version=farmer-v1" in block
    assert "Intended use" in page.text.split('<h3 id="card-performance">', 1)[0]  # the card stays
    assert ">performance</h3>" not in page.text  # not also drawn as a generic card section


def test_the_chart_speaks_the_persons_language(world: World, auditor: TestClient) -> None:
    seed(world, 6)
    path = "/models/farmer-v1"
    assert (
        post_form(auditor, "/language", {"language": "zh", "next": path}, from_page=path).status_code == 303
    )
    block = _performance(auditor.get(path).text)
    assert (
        "该版本贷款的表现" in block and 'lang="zh"' in block and "各等级实际违约率与预测违约概率对比" in block
    )
    assert "账龄曲线和不利影响：完整的表现报告" in block


def test_a_version_without_loans_says_so(auditor: TestClient) -> None:
    block = _performance(auditor.get("/models/enterprise-v1").text)
    assert "no outcomes are known yet for these decisions" in block
    assert "no matured loans" in block  # the chart's words for every grade
