"""The decision hint of one score is the vectorised rule's, at and around both thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.scoring.domain.scale import HINTS, HintRule

RULES = [HintRule(580.0, 520.0), HintRule(600.0, 600.0), HintRule(550.5, 0.0)]


@pytest.mark.parametrize("rule", RULES)
def test_one_score_gets_the_hint_of_the_vectorised_rule(rule: HintRule) -> None:
    edges = [rule.approve_min_score, rule.decline_below_score]
    scores = [e + d for e in edges for d in (-1.0, -1e-9, 0.0, 1e-9, 1.0)]
    scores += [math.nextafter(e, -math.inf) for e in edges] + [math.nextafter(e, math.inf) for e in edges]
    scores += [-1e300, 0.0, -0.0, 1e300, math.inf, -math.inf, math.nan, 575, 520]
    vectorised = [HINTS[i] for i in rule.hint_index(np.array(scores, dtype=np.float64))]
    assert [rule.hint(s) for s in scores] == vectorised
    assert rule.hint(np.float64(rule.approve_min_score)) == "approve"
