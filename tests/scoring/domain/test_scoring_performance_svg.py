"""The performance chart drawn from a report's grades: well-formed SVG with a text alternative
that says every figure, bars only where there are matured loans, the axis covering them; and
the model card's performance section built from a report."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date
from typing import Any

import pytest

from services.scoring.domain.card import performance_markdown, performance_section
from services.scoring.domain.performance import ScoredLoan, performance_report
from services.scoring.domain.performance_svg import axis_top, chart_title, render_performance_svg
from services.scoring.domain.waterfall import COST_COLOUR, GAIN_COLOUR

SVG = "{http://www.w3.org/2000/svg}"


def _grade(grade: str, matured: int, defaulted: int, mean_pd: float | None) -> dict[str, Any]:
    rate = defaulted / matured if matured else None
    return {
        "grade": grade,
        "matured": matured,
        "defaulted": defaulted,
        "default_rate": rate,
        "mean_pd": mean_pd,
    }


GRADES = [_grade("A", 40, 1, 0.03), _grade("B", 10, 3, 0.12), _grade("C", 0, 0, None)]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_chart_is_well_formed_and_says_every_figure(lang: str) -> None:
    title = chart_title(version="farmer-v1 <&>", as_of="2027-01-01", lang=lang)
    root = ET.fromstring(render_performance_svg(GRADES, title=title, ident="p 1", lang=lang))
    assert root.get("role") == "img" and root.get("lang") == lang
    assert root.get("aria-labelledby") == "p-1-title p-1-desc"
    svg_title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert svg_title is not None and svg_title.text == title
    assert desc is not None and desc.text is not None
    for figure in ("2.5%", "3.0%", "30.0%", "12.0%"):
        assert figure in desc.text
    assert ("no matured loans" if lang == "en" else "没有已到期贷款") in desc.text
    realised = root.findall(f".//{SVG}rect[@class='realised']")
    assert len(realised) == len(root.findall(f".//{SVG}rect[@class='predicted']")) == 2
    # within the prediction green (grade A), above it red (grade B)
    assert [r.get("fill") for r in realised] == [GAIN_COLOUR, COST_COLOUR]
    widths = [float(r.get("width", "0")) for r in realised]
    assert widths[1] > widths[0] > 0


def test_the_axis_covers_the_largest_rate_in_five_percent_steps() -> None:
    assert axis_top(GRADES) == pytest.approx(0.30)
    assert axis_top([_grade("A", 10, 1, 0.101)]) == pytest.approx(0.15)
    assert axis_top([_grade("C", 0, 0, None)]) == pytest.approx(0.05)
    assert axis_top([_grade("E", 2, 2, 0.9)]) == pytest.approx(1.0)


def test_the_card_section_and_markdown_carry_the_report() -> None:
    loans = [
        ScoredLoan(f"s{i}", "A" if i % 2 else "B", 0.05 + i / 100, "approve", None, date(2025, 1, 1))
        for i in range(4)
    ]
    report = {
        "segment": "farmer",
        "model_version": "farmer-v1",
        **performance_report(loans, date(2026, 6, 1)),
    }
    section = performance_section(report, chart="/v1/models/farmer-v1/performance.svg")
    assert "segment" not in section and "model_version" not in section
    assert section["matured"] == 4 and section["chart"].endswith("performance.svg")
    text = "\n".join(performance_markdown(section))
    assert "## Performance on outcomes (as of 2026-06-01)" in text
    assert "](/v1/models/farmer-v1/performance.svg)" in text
    assert "| A | 2 | 0 | 0.0% |" in text and "| C | 0 | 0 | — | — |" in text
