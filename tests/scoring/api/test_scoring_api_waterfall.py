"""GET /v1/scores/{id}/waterfall.svg: an accessible chart in the caller's language."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import factory.random
import pytest
from fastapi.testclient import TestClient

from shared.auth import Role
from tests.factories.scoring import ScoreRequestFactory
from tests.scoring.kit import post_score
from tests.support import assert_problem as problem

Headers = Callable[[Role], dict[str, str]]
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def scored(client: TestClient, headers: Headers) -> dict[str, Any]:
    factory.random.reseed_random("waterfall-svg")
    body = ScoreRequestFactory(subject_id="farmer <b>&</b>")
    for _ in range(20):  # an applicant who loses points somewhere, so that reasons are drawn
        out = post_score(client, headers(Role.LOAN_OFFICER), body)
        if out["reasons"]:
            return out
        body = ScoreRequestFactory(subject_id="farmer <b>&</b>")
    raise AssertionError("no applicant with reasons")


def _svg(
    client: TestClient, headers: Headers, score_id: str, *, lang: str | None = None, accept: str | None = None
) -> tuple[ET.Element, Any]:
    extra = {"Accept-Language": accept} if accept else {}
    response = client.get(
        f"/v1/scores/{score_id}/waterfall.svg",
        params={"lang": lang} if lang else None,
        headers={**headers(Role.AUDITOR), **extra},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/svg+xml; charset=utf-8"
    return ET.fromstring(response.text), response


def test_english_chart_says_the_score_and_the_reasons(
    client: TestClient, headers: Headers, scored: dict[str, Any]
) -> None:
    root, response = _svg(client, headers, scored["id"])
    assert response.headers["content-language"] == "en" and root.get("lang") == "en"
    title = root.findtext(f"{SVG}title") or ""
    desc = root.findtext(f"{SVG}desc") or ""
    assert title.startswith("farmer <b>&</b>: score ") and scored["model_version"] in title
    assert f"score {scored['integer_score']}," in title and f"grade {scored['grade']}" in title
    for reason in scored["reasons"]:
        assert f"{reason['code']} {reason['text']}" in desc
    assert root.get("aria-labelledby") == f"waterfall-{scored['id']}-title waterfall-{scored['id']}-desc"


@pytest.mark.parametrize("asked", [{"lang": "zh"}, {"accept": "zh-CN,zh;q=0.9,en;q=0.5"}])
def test_chinese_chart_by_query_or_accept_language(
    client: TestClient, headers: Headers, scored: dict[str, Any], asked: dict[str, str]
) -> None:
    root, response = _svg(client, headers, scored["id"], **asked)
    assert response.headers["content-language"] == "zh" and root.get("lang") == "zh"
    desc = root.findtext(f"{SVG}desc") or ""
    assert "基础分" in desc and "评分" in (root.findtext(f"{SVG}title") or "")
    in_chinese = client.get(f"/v1/scores/{scored['id']}?lang=zh", headers=headers(Role.AUDITOR)).json()
    for reason in in_chinese["reasons"]:  # the texts the decision chose for its values
        assert f"{reason['code']} {reason['text']}" in desc


def test_unknown_score_and_access(client: TestClient, headers: Headers, scored: dict[str, Any]) -> None:
    problem(client.get("/v1/scores/nope/waterfall.svg", headers=headers(Role.AUDITOR)), 404)
    problem(client.get(f"/v1/scores/{scored['id']}/waterfall.svg", headers=headers(Role.MARKETPLACE)), 403)
    assert (
        client.get(f"/v1/scores/{scored['id']}/waterfall.svg", headers=headers(Role.SERVICE)).status_code
        == 200
    )
