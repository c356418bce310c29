"""Model performance: per grade the realised default rate vs the mean predicted PD (a chart and
its table), AUC and KS on matured loans, vintage curves and adverse impact, the same numbers
as scoring's report; gated to auditors and admins; scoring down names scoring."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, date, datetime
from typing import Any, cast

import factory.random
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.console.domain import formatting
from services.scoring.models import Decision, Outcome
from shared.auth import Role
from tests.console.kit import World, post_form
from tests.factories.scoring import ScoreRequestFactory

AS_OF = "2026-06-01"


@pytest.fixture
def auditor(world: World) -> TestClient:
    return world.signed_in("ada", Role.AUDITOR)


def seed(world: World, count: int = 24) -> list[dict[str, Any]]:
    """``count`` farmer decisions (north and south alternating), each a loan disbursed in January
    or February 2025; every third one reached 90 days past due, the others were repaid."""
    factory.random.reseed_random("console-performance")
    decisions = []
    for i in range(count):
        body = ScoreRequestFactory(monitoring={"group": "north" if i % 2 else "south"})
        decisions.append(
            world.api(
                "scoring",
                "POST",
                "/v1/scores",
                role=Role.LOAN_OFFICER,
                json=body,
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
        )
    with world.contexts["scoring"].db.unit_of_work() as session:
        for i, decision in enumerate(decisions):
            disbursed = date(2025, 1 + i % 2, 15)
            kind, on = ("dpd90", date(2025, 5, 20)) if i % 3 == 0 else ("repaid", date(2025, 12, 1))
            session.add(
                Outcome(
                    score_id=decision["id"],
                    loan_id=f"loan-{i}",
                    outcome=kind,
                    occurred_on=on,
                    disbursed_on=disbursed,
                    event_id=f"ev-{i}",
                    received_at=datetime(2026, 1, 5, tzinfo=UTC),
                )
            )
    return decisions


def section(text: str, caption: str) -> str:
    return text.split(caption, 1)[1].split("</table>", 1)[0]


def test_the_page_shows_scorings_numbers(world: World, auditor: TestClient) -> None:
    seed(world)
    report = world.api(
        "scoring", "GET", "/v1/monitoring/performance", params={"segment": "farmer", "as_of": AS_OF}
    )
    assert report["matured"] == 24 and report["discrimination"]["auc"] is not None
    page = auditor.get("/performance", params={"segment": "farmer", "as_of": AS_OF})
    assert page.status_code == 200, page.text
    text = page.text
    assert 'aria-current="page"' in text and "Model performance" in text

    grades = section(text, "Realised default rate vs mean predicted PD per grade (the numbers")
    rows = re.findall(r'<th scope="row">([^<]+)</th>((?:\s*<td[^>]*>[^<]*</td>)+)', grades)
    shown = {g: re.findall(r"<td[^>]*>([^<]*)</td>", cells) for g, cells in rows}
    assert set(shown) == {g["grade"] for g in report["grades"]}
    for g in report["grades"]:
        assert shown[g["grade"]][:4] == [
            str(g["matured"]),
            str(g["defaulted"]),
            formatting.percent(g["default_rate"], "en"),
            formatting.percent(g["mean_pd"], "en"),
        ]
        assert html.unescape(shown[g["grade"]][4]) == (g["note"] or "")

    chart = re.search(r"<svg.*?</svg>", text, flags=re.S)
    assert chart is not None and "<title" in chart.group(0) and "<desc" in chart.group(0)
    with_loans = [g for g in report["grades"] if g["default_rate"] is not None]
    assert with_loans and chart.group(0).count("<rect") == 2 * len(with_loans)
    for g in with_loans:
        assert f"Grade {g['grade']} realised: {formatting.percent(g['default_rate'], 'en')}" in chart.group(0)
        assert f"Grade {g['grade']} predicted: {formatting.percent(g['mean_pd'], 'en')}" in chart.group(0)

    d = report["discrimination"]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", section(text, "AUC and KS of the predicted PD"))
    assert cells == [
        str(d["matured"]),
        str(d["defaulted"]),
        formatting.number(d["auc"], "en", digits=4),
        formatting.number(d["ks"], "en", digits=4),
    ]

    vintages = section(text, "Cumulative default rate by months since disbursement")
    assert [v["vintage"] for v in report["vintages"]] == ["2025-01", "2025-02"]
    for v in report["vintages"]:
        row = re.search(rf'<th scope="row">{v["vintage"]}</th>((?:\s*<td[^>]*>[^<]*</td>)+)', vintages)
        assert row is not None
        values = re.findall(r"<td[^>]*>([^<]*)</td>", row.group(1))
        by_month = {p["months"]: formatting.percent(p["default_rate"], "en") for p in v["curve"]}
        assert values == [str(v["loans"]), *(by_month.get(k, "") for k in range(1, 13))]
    vintage_chart = re.findall(r"<svg.*?</svg>", text, flags=re.S)[1]
    assert "Share of each vintage defaulted, farmer" in vintage_chart and "<desc" in vintage_chart
    assert vintage_chart.count("<rect") == len(report["vintages"])
    for v in report["vintages"]:
        last = max(v["curve"], key=lambda p: p["months"])
        rate = formatting.percent(last["default_rate"], "en")
        assert f"{v['vintage']} after {last['months']} mo: {rate}" in vintage_chart


def group_cells(part: str, group: str) -> list[str]:
    row = re.search(rf'<th scope="row">{group}</th>(.*?)</tr>', part, flags=re.S)
    assert row is not None, group
    return re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), flags=re.S)


def test_adverse_impact_is_flagged_below_four_fifths(world: World, auditor: TestClient) -> None:
    decisions = seed(world)
    # every south decision approved, half the north ones: the approvals ratio is 0.5
    north = [d["id"] for i, d in enumerate(decisions) if i % 2]
    with world.contexts["scoring"].db.unit_of_work() as session:
        for row in session.execute(select(Decision)).scalars():
            row.decision_hint = "decline" if row.id in north[:6] else "approve"
    report = world.api(
        "scoring", "GET", "/v1/monitoring/performance", params={"segment": "farmer", "as_of": AS_OF}
    )["adverse_impact"]
    assert report["approvals"]["flagged"] is True and round(report["approvals"]["ratio"], 2) == 0.5
    assert report["outcomes"]["flagged"] is False  # four of twelve defaulted in each group
    text = auditor.get("/performance", params={"segment": "farmer", "as_of": AS_OF}).text
    approvals = text.split("<h3>On approvals</h3>", 1)[1].split("<h3>", 1)[0]
    outcomes = text.split("<h3>On outcomes</h3>", 1)[1]
    assert "Flagged: the lowest ratio is 0.50, below 0.80." in approvals
    assert group_cells(approvals, "north")[:3] == ["12", "50.0%", "0.50"]
    assert "<strong" in group_cells(approvals, "north")[3]
    assert group_cells(approvals, "south") == ["12", "100.0%", "1.00", "no"]
    assert "Not flagged: the lowest ratio is 1.00, at or above 0.80." in outcomes
    for group in ("north", "south"):
        rate = formatting.percent(report["outcomes"]["rates"][group], "en")
        assert group_cells(outcomes, group) == [str(report["outcomes"]["counts"][group]), rate, "1.00", "no"]


def test_no_outcomes_shows_the_reports_plain_words(world: World, auditor: TestClient) -> None:
    page = auditor.get("/performance", params={"segment": "farmer"})
    assert page.status_code == 200, page.text
    report = world.api("scoring", "GET", "/v1/monitoring/performance", params={"segment": "farmer"})
    assert report["discrimination"]["note"]
    assert html.escape(report["discrimination"]["note"]) in page.text
    assert "No loan with an outcome yet" in page.text and "<svg" not in page.text
    assert html.escape(report["grades"][0]["note"]) in page.text


def test_a_model_version_filters_and_the_model_page_links_here(world: World, auditor: TestClient) -> None:
    seed(world, 9)
    version = world.api("scoring", "GET", "/v1/models", params={"segment": "farmer"})["models"][0]["version"]
    model_page = auditor.get(f"/models/{version}")
    link = f'href="/performance?segment=farmer&amp;model_version={version}"'
    assert link in model_page.text
    page = auditor.get("/performance", params={"segment": "farmer", "model_version": version, "as_of": AS_OF})
    report = world.api(
        "scoring",
        "GET",
        "/v1/monitoring/performance",
        params={"segment": "farmer", "model_version": version, "as_of": AS_OF},
    )
    assert page.status_code == 200 and report["model_version"] == version
    assert f'<option value="{version}" selected>' in page.text
    assert f"<dt>Decisions</dt><dd>{report['decisions']}</dd>" in page.text


def test_the_page_reads_in_chinese(world: World, auditor: TestClient) -> None:
    seed(world, 6)
    path = f"/performance?segment=farmer&as_of={AS_OF}"
    switched = post_form(auditor, "/language", {"language": "zh", "next": path}, from_page=path)
    assert switched.status_code == 303
    page = auditor.get(path)
    assert page.status_code == 200, page.text
    assert "<h1>模型表现</h1>" in page.text
    assert "farmer 各等级实际违约率与平均预测违约概率" in page.text
    assert "2025-01 放款后 12 个月" in page.text


def test_bad_filters_are_shown_beside_their_fields_with_the_values_kept(auditor: TestClient) -> None:
    page = auditor.get(
        "/performance", params={"segment": "farmer", "model_version": "farmer-nope", "as_of": "June"}
    )
    assert page.status_code == 422
    assert re.search(r'id="e-as_of">Not a date: write it as YYYY-MM-DD.<', page.text)
    assert re.search(r'id="e-model_version">Choose one of this segment&#39;s model versions.<', page.text)
    assert 'value="June"' in page.text and "<h2>" not in page.text


def test_a_loan_officer_gets_the_403_page(world: World) -> None:
    officer = world.signed_in("olu", Role.LOAN_OFFICER)
    page = officer.get("/performance")
    assert page.status_code == 403
    assert 'href="/performance"' not in officer.get("/").text


def test_when_scoring_is_down_the_page_names_it(auditor: TestClient) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    app = cast(Any, auditor.app)
    working = app.state.http["scoring"]
    app.state.http["scoring"] = httpx.Client(
        base_url="http://scoring.test", transport=httpx.MockTransport(refuse)
    )
    try:
        page = auditor.get("/performance")
    finally:
        app.state.http["scoring"].close()
        app.state.http["scoring"] = working
    assert page.status_code == 503
    assert "The scoring service is not answering" in page.text
