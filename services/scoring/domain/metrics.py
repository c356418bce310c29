"""Discrimination and calibration metrics, and a deterministic Platt fit (numpy only).

All functions take ``y`` as 0/1 (1 = default) and a score that increases with risk
(a PD or a log-odds of default).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
CALIBRATION_BINS = 10


def _average_ranks(values: FloatArray) -> FloatArray:
    """1-based ranks with ties sharing their average rank."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    _, first, counts = np.unique(sorted_values, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(avg, counts)
    return ranks


def auc(y: npt.ArrayLike, risk: npt.ArrayLike) -> float:
    """ROC AUC (Mann–Whitney, ties counted half); NaN if only one class is present."""
    y_arr = np.asarray(y, dtype=np.float64)
    r = np.asarray(risk, dtype=np.float64)
    n_pos = float(y_arr.sum())
    n_neg = float(len(y_arr) - n_pos)
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _average_ranks(r)
    return float((ranks[y_arr == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def ks_statistic(y: npt.ArrayLike, risk: npt.ArrayLike) -> float:
    """Kolmogorov–Smirnov: max distance between the bad and good cumulative distributions."""
    y_arr = np.asarray(y, dtype=np.float64)
    r = np.asarray(risk, dtype=np.float64)
    n_pos = y_arr.sum()
    n_neg = len(y_arr) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(-r, kind="stable")
    r_sorted, y_sorted = r[order], y_arr[order]
    # evaluate only at the last position of each distinct threshold so ties move together
    last = np.r_[r_sorted[1:] != r_sorted[:-1], True]
    tpr = np.cumsum(y_sorted)[last] / n_pos
    fpr = np.cumsum(1.0 - y_sorted)[last] / n_neg
    return float(np.max(np.abs(tpr - fpr)))


def brier(y: npt.ArrayLike, pd: npt.ArrayLike) -> float:
    """Mean squared error of the PD."""
    diff = np.asarray(pd, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    return float(np.mean(diff * diff))


def log_loss(y: npt.ArrayLike, pd: npt.ArrayLike, eps: float = 1e-15) -> float:
    """Binary cross-entropy."""
    p = np.clip(np.asarray(pd, dtype=np.float64), eps, 1.0 - eps)
    y_arr = np.asarray(y, dtype=np.float64)
    return float(-np.mean(y_arr * np.log(p) + (1.0 - y_arr) * np.log1p(-p)))


def calibration_table(
    y: npt.ArrayLike, pd: npt.ArrayLike, bins: int = CALIBRATION_BINS
) -> list[dict[str, float | int]]:
    """Equal-count bins of predicted PD: count, mean predicted PD, observed default rate."""
    y_arr = np.asarray(y, dtype=np.float64)
    p = np.asarray(pd, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    table: list[dict[str, float | int]] = []
    for i, idx in enumerate(np.array_split(order, bins)):
        if len(idx) == 0:
            continue
        table.append(
            {
                "bin": i + 1,
                "count": len(idx),
                "mean_pd": float(p[idx].mean()),
                "observed_default_rate": float(y_arr[idx].mean()),
            }
        )
    return table


def classification_metrics(y: npt.ArrayLike, pd: npt.ArrayLike) -> dict[str, Any]:
    """AUC, Gini, KS, Brier, log loss, default rate, mean PD and the calibration table."""
    y_arr = np.asarray(y, dtype=np.float64)
    p = np.asarray(pd, dtype=np.float64)
    area = auc(y_arr, p)
    return {
        "rows": len(y_arr),
        "default_rate": float(y_arr.mean()) if len(y_arr) else math.nan,
        "mean_pd": float(p.mean()) if len(p) else math.nan,
        "auc": area,
        "gini": 2.0 * area - 1.0,
        "ks": ks_statistic(y_arr, p),
        "brier": brier(y_arr, p),
        "log_loss": log_loss(y_arr, p),
        "calibration": calibration_table(y_arr, p),
    }


def fit_platt(
    margin: npt.ArrayLike, y: npt.ArrayLike, *, max_iter: int = 100, tol: float = 1e-12
) -> tuple[float, float]:
    """Fit ``P(default) = sigmoid(a·margin + b)`` by Newton's method (deterministic).

    A tiny ridge (1e-9) keeps the Hessian invertible; each step is halved until the
    log-likelihood does not decrease. Returns ``(a, b)``.
    """
    x = np.asarray(margin, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    design = np.column_stack([x, np.ones_like(x)])
    w = np.array([1.0, 0.0])

    def loss(params: FloatArray) -> float:
        z = design @ params
        return float(np.sum(np.logaddexp(0.0, z) - t * z))

    current = loss(w)
    for _ in range(max_iter):
        z = design @ w
        p = 0.5 * (1.0 + np.tanh(0.5 * z))
        grad = design.T @ (p - t)
        hess = (design * (p * (1.0 - p))[:, None]).T @ design + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        scale = 1.0
        while True:
            candidate = w - scale * step
            value = loss(candidate)
            if value <= current or scale < 1e-6:
                break
            scale *= 0.5
        improvement = current - value
        w, current = candidate, value
        if improvement <= tol * max(1.0, abs(current)):
            break
    return float(w[0]), float(w[1])
