"""Integer points: they add up to the half-even integer score exactly, by largest remainder."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scoring.domain.explain import explain_applicant, explain_batch
from services.scoring.domain.matrix import frame_to_matrix
from services.scoring.domain.model import TrainedModel
from services.scoring.domain.points import integer_points, integer_points_batch
from services.scoring.domain.synthetic import generate

finite = st.floats(min_value=-500.0, max_value=500.0, allow_nan=False, allow_infinity=False)


def test_a_known_row_rounds_by_largest_remainder() -> None:
    # floors 600, 5, 7, -1 sum to 611; the score 612.6 rounds to 613: two units to the two
    # largest remainders (7.8 → 8 and 5.6 → 6), none to the base (.2) or -0.6 (.4)
    row = integer_points(612.6, 600.2, [5.6, 7.8, -0.6])
    assert row.score == 613
    assert (row.base, row.points) == (600, (6, 8, -1))


def test_the_integer_score_rounds_half_to_even() -> None:
    assert integer_points(612.5, 612.5, []).score == 612
    assert integer_points(613.5, 613.5, []).score == 614


def test_ties_go_to_the_earlier_item_the_base_first() -> None:
    row = integer_points(601.0, 600.5, [0.5])
    assert (row.base, row.points) == (601, (0,))


@settings(max_examples=300, deadline=None)
@given(base=st.floats(min_value=300, max_value=900, allow_nan=False), points=st.lists(finite, max_size=20))
def test_integers_add_up_and_stay_within_a_point_of_the_floats(base: float, points: list[float]) -> None:
    score = base + sum(points)
    row = integer_points(score, base, points)
    assert row.base + sum(row.points) == row.score == round(score)
    for exact, whole in zip([base, *points], [row.base, *row.points], strict=True):
        assert abs(exact - whole) < 1.0


@settings(max_examples=50, deadline=None)
@given(
    rows=st.integers(min_value=1, max_value=40),
    width=st.integers(min_value=0, max_value=18),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_the_batch_gives_the_integers_of_each_row(rows: int, width: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    points = rng.normal(0.0, 15.0, (rows, width)).round(rng.integers(0, 3))  # some exact halves and ties
    base = rng.normal(580.0, 20.0, rows)
    score = base + points.sum(axis=1)
    scores, bases, ints = integer_points_batch(score, base, points)
    for i in range(rows):
        row = integer_points(float(score[i]), float(base[i]), points[i].tolist())
        assert (int(scores[i]), int(bases[i]), tuple(ints[i].tolist())) == (row.score, row.base, row.points)


def test_a_score_far_from_its_points_still_adds_up() -> None:
    # a shortfall outside 0..n (never from a real explanation) goes round the items again
    row = integer_points(610.0, 600.0, [1.0])
    assert row.base + sum(row.points) == 610
    scores, bases, ints = integer_points_batch(np.array([590.0]), np.array([600.0]), np.array([[1.0]]))
    assert int(bases[0]) + int(ints[0].sum()) == int(scores[0]) == 590


def test_points_must_be_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        integer_points(600.0, float("nan"), [])


def test_every_explanation_carries_integers_that_add_up(farmer_model: TrainedModel) -> None:
    frame = generate("farmer", 500, seed=11)
    batch = explain_batch(farmer_model, frame_to_matrix(farmer_model.spec, frame))
    scores, bases, ints = batch.integers
    assert (bases + ints.sum(axis=1) == scores).all()
    assert (scores == np.round(batch.score)).all()
    example = explain_applicant(farmer_model, farmer_model.spec.example)
    integers = example.integers
    assert integers.base + sum(integers.points) == integers.score == round(example.score)
    assert example.to_dict()["integer_points"]["points"] == example.integer_points_by_feature()
