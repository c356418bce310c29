"""The waterfall's bars add up to the score, and its SVG says the same in words (en, zh)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from itertools import pairwise

import pytest

from services.scoring.domain.explain import explain_applicant
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.waterfall import axis_range, waterfall_bars
from services.scoring.domain.waterfall_svg import chart_title, render_waterfall_svg

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("max_features", [3, 6, 100])
def test_bars_walk_from_base_points_to_the_score(farmer_model: TrainedModel, max_features: int) -> None:
    explanation = explain_applicant(farmer_model, farmer_model.spec.example)
    bars = waterfall_bars(explanation, max_features=max_features)
    n = len(explanation.points)
    assert len(bars) == 2 + min(n, max_features) + (1 if n > max_features else 0)
    integers = explanation.integers  # the chart draws the printable integers, which add up exactly
    assert (bars[0].kind, bars[0].height) == ("total", integers.base)
    assert (bars[-1].kind, bars[-1].height) == ("total", integers.score)
    steps = bars[1:-1]
    assert steps[0].start == integers.base
    assert all(b.start == a.end for a, b in pairwise(steps))
    assert steps[-1].end == integers.score
    assert all(b.kind == ("gain" if b.height >= 0 else "cost") for b in steps)
    grouped = [b for b in steps if b.grouped]
    assert [b.grouped for b in grouped] == ([n - max_features] if n > max_features else [])
    assert sum(b.height for b in steps) == sum(integers.points)
    assert all(b.height == round(b.height) for b in bars)
    low, high = axis_range(bars)
    assert low <= min(b.end for b in steps) and high >= max(max(b.start, b.end) for b in steps)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_svg_has_a_title_and_a_text_alternative(farmer_model: TrainedModel, lang: str) -> None:
    explanation = explain_applicant(farmer_model, farmer_model.spec.example)
    title = chart_title(explanation, subject="farmer <1> & co", model="farmer-v1", lang=lang)
    svg = render_waterfall_svg(explanation, title=title, ident="s 1", lang=lang, max_features=5)
    root = ET.fromstring(svg)  # well-formed: the subject's markup is escaped
    assert root.tag == f"{SVG}svg" and root.get("role") == "img" and root.get("lang") == lang
    title_el, desc_el = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title_el is not None and desc_el is not None
    assert root.get("aria-labelledby") == f"{title_el.get('id')} {desc_el.get('id')}" == "s-1-title s-1-desc"
    assert title_el.text == title and "farmer <1> & co" in title
    desc = desc_el.text or ""
    integers = explanation.integers
    assert f"{integers.base}" in desc and f"{integers.score}" in desc
    for bar in waterfall_bars(explanation, max_features=5)[1:-1]:
        assert f"{bar.height:+.0f}".replace("-", "−") in desc
    assert len(root.findall(f"{SVG}g")) == len(waterfall_bars(explanation, max_features=5))
    words = ("基础分", "评分", "其他") if lang == "zh" else ("base points", "score", "other features")
    assert all(word in desc for word in words), desc
    assert (f"{explanation.grade}" in title) and (("评分" in title) == (lang == "zh"))
