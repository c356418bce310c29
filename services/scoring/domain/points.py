"""Integer points a loan officer can print: they add up exactly, by largest remainder.

An explanation's float points satisfy ``score = base_points + Σ points_j`` (up to float
rounding). A printed scorecard needs integers with the same property, so:

* the **integer score** is the float score rounded half to even (``round``);
* the integer base and feature points are the floors of the float ones, and the units the
  floors leave short of the integer score (``integer score − Σ floors``) go one each to the
  items with the largest fractional remainders; ties go to the earlier item (the base first,
  then spec order). This is the largest-remainder method ``shared.money.Money.allocate`` uses
  for money: no point is invented or lost, and no item moves by a whole point or more from
  its float value, except when float rounding leaves the shortfall outside ``0..n`` (then
  the extra units go round again, in the same order).

:func:`integer_points` does one row; :func:`integer_points_batch` does N rows with numpy and
gives the same integers row by row (tested).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

IntMatrix = npt.NDArray[np.int64]


@dataclass(frozen=True)
class IntegerPoints:
    """One row's integer score, base and per-feature points (``base + Σ points == score``)."""

    score: int
    base: int
    points: tuple[int, ...]


def _allocate(floors: list[int], remainders: list[float], shortfall: int) -> list[int]:
    """Add ``shortfall`` units (negative: take them) to the largest (smallest) remainders."""
    out = list(floors)
    n = len(out)
    if shortfall >= 0:
        order = sorted(range(n), key=lambda i: (-remainders[i], i))
        step = 1
    else:
        order = sorted(range(n), key=lambda i: (remainders[i], i))
        step = -1
    for k in range(abs(shortfall)):
        out[order[k % n]] += step
    return out


def integer_points(score: float, base_points: float, points: Sequence[float]) -> IntegerPoints:
    """Integer score (half-even), base and points of one row; they sum exactly."""
    values = [base_points, *points]
    if not all(math.isfinite(v) for v in values) or not math.isfinite(score):
        raise ValueError("points must be finite")
    total = round(score)
    floors = [math.floor(v) for v in values]
    remainders = [v - f for v, f in zip(values, floors, strict=True)]
    allocated = _allocate(floors, remainders, total - sum(floors))
    return IntegerPoints(score=total, base=allocated[0], points=tuple(allocated[1:]))


def integer_points_batch(
    score: npt.NDArray[np.float64], base_points: npt.NDArray[np.float64], points: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], IntMatrix]:
    """:func:`integer_points` of N rows: (scores ``(N,)``, bases ``(N,)``, points ``(N, n)``)."""
    values = np.column_stack([base_points, points]).astype(np.float64, copy=False)
    if not (np.isfinite(values).all() and np.isfinite(score).all()):
        raise ValueError("points must be finite")
    total = np.round(score).astype(np.int64)  # numpy rounds half to even, as round() does
    floors = np.floor(values)
    remainders = values - floors
    out = floors.astype(np.int64)
    shortfall = total - out.sum(axis=1)
    width = values.shape[1]
    # rank of each item in the row: by remainder descending, ties by position (stable sort)
    order = np.argsort(-remainders, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(width)[None, :].repeat(len(values), axis=0), axis=1)
    usual = (shortfall >= 0) & (shortfall <= width)
    out[usual] += (rank[usual] < shortfall[usual, None]).astype(np.int64)
    for i in np.flatnonzero(~usual):  # float rounding far off: the scalar rule, row by row
        row = integer_points(float(score[i]), float(values[i, 0]), values[i, 1:].tolist())
        out[i] = [row.base, *row.points]
    return total, out[:, 0], out[:, 1:]
