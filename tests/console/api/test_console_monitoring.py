"""Drift and fairness: PSI per feature and for the score (a chart and its table, toned by the
0.10 / 0.25 bands) and the adverse-impact report per monitoring group, flagged below 0.8."""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

import factory.random
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.console.domain import formatting
from services.console.domain.feature_labels import feature_label
from services.scoring.models import Decision
from shared.auth import Role
from tests.console.kit import World
from tests.factories.scoring import ScoreRequestFactory


@pytest.fixture
def auditor(world: World) -> TestClient:
    return world.signed_in("ada", Role.AUDITOR)


def score_many(world: World, count: int) -> list[dict[str, Any]]:
    """``count`` farmer decisions, each sent with a monitoring group (north and south, alternating)."""
    factory.random.reseed_random("console-monitoring")
    out = []
    for i in range(count):
        body = ScoreRequestFactory(monitoring={"group": "north" if i % 2 else "south"})
        out.append(
            world.api(
                "scoring",
                "POST",
                "/v1/scores",
                role=Role.LOAN_OFFICER,
                json=body,
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
        )
    return out


def tone(psi: float) -> str:
    return "good" if psi < 0.1 else "warn" if psi < 0.25 else "bad"


def test_the_psi_chart_and_table_show_scorings_numbers(world: World, auditor: TestClient) -> None:
    score_many(world, 30)
    report = world.api("scoring", "GET", "/v1/monitoring/psi", params={"segment": "farmer"})
    page = auditor.get("/monitoring", params={"segment": "farmer"})
    assert page.status_code == 200, page.text
    text = page.text
    chart = re.search(r"<svg.*?</svg>", text, flags=re.S)
    assert chart is not None and "<title" in chart.group(0) and "<desc" in chart.group(0)
    table = text.split("PSI of the score and of each feature", 1)[1].split("</table>", 1)[0]
    found = re.findall(r'<th scope="row">([^<]+)</th>\s*<td class="num">([^<]+)</td>', table)
    rows = {html.unescape(label): value for label, value in found}
    assert rows["Score"] == formatting.number(report["score"]["psi"], "en", digits=4)
    assert set(rows) == {"Score", *(feature_label(f) for f in report["features"])}
    for feature, stability in report["features"].items():
        name = feature_label(feature)
        assert rows[name] == formatting.number(stability["psi"], "en", digits=4)
        fill = {"good": "#116329", "warn": "#9a6700", "bad": "#a40e26"}[tone(stability["psi"])]
        bar = re.search(
            rf">{re.escape(html.escape(name))}</text><rect [^>]*fill=\"([^\"]+)\"", chart.group(0)
        )
        assert bar is not None and bar.group(1) == fill, name
    assert 'aria-current="page"' in text and "Drift and fairness" in text


def test_the_adverse_impact_report_flags_a_group_below_four_fifths(world: World, auditor: TestClient) -> None:
    score_many(world, 24)
    # hints and groups set in scoring's store: south 10 of 12 approved, north 6 of 12 (ratio 0.6)
    with world.contexts["scoring"].db.unit_of_work() as session:
        rows = session.execute(select(Decision).order_by(Decision.created_at, Decision.id)).scalars().all()
        for i, row in enumerate(rows):
            row.monitoring_group = "south" if i < 12 else "north"
            row.decision_hint = "approve" if i < 10 or 12 <= i < 18 else "decline"
    report = world.api("scoring", "GET", "/v1/monitoring/psi", params={"segment": "farmer"})["fairness"]
    assert report["flagged"] and round(report["ratio"], 2) == 0.6
    page = auditor.get("/monitoring", params={"segment": "farmer"})
    assert page.status_code == 200, page.text
    text = page.text.split("<h2>Adverse impact</h2>", 1)[1]
    assert "four-fifths rule" in text
    assert "Flagged: the lowest ratio is 0.60, below 0.80." in text
    north = re.search(r'<th scope="row">north</th>(.*?)</tr>', text, flags=re.S)
    south = re.search(r'<th scope="row">south</th>(.*?)</tr>', text, flags=re.S)
    assert north is not None and south is not None
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), flags=re.S) for row in (north, south)]
    assert cells[0][:3] == ["12", "50.0%", "0.60"] and "<strong" in cells[0][3]  # below the threshold
    assert cells[1][:3] == ["12", "83.3%", "1.00"] and cells[1][3] == "no"
    assert text.index(">north<") < text.index(">south<")  # the lowest rate first


def test_a_segment_without_decisions_says_there_is_nothing_to_compare(auditor: TestClient) -> None:
    page = auditor.get("/monitoring", params={"segment": "enterprise"})
    assert page.status_code == 200, page.text
    assert "nothing to compare yet" in page.text and "<svg" not in page.text
    assert "cannot be measured" in page.text


def test_the_first_segment_is_shown_when_none_is_chosen_and_a_bad_date_is_named(
    auditor: TestClient,
) -> None:
    page = auditor.get("/monitoring")
    assert page.status_code == 200 and '<option value="enterprise" selected>' in page.text
    bad = auditor.get("/monitoring", params={"segment": "farmer", "since": "yesterday"})
    assert bad.status_code == 422 and 'id="e-since"' in bad.text and 'value="yesterday"' in bad.text


def test_a_loan_officer_gets_the_403_page(world: World) -> None:
    page = world.signed_in("amina", Role.LOAN_OFFICER).get("/monitoring")
    assert page.status_code == 403 and "Not for your role" in page.text
