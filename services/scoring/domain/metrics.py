"""Discrimination and calibration metrics, and a deterministic Platt fit.

All functions take ``y`` as 0/1 (1 = default) and a score that increases with risk
(a PD or a log-odds of default). AUC, Brier, log loss and the Platt fit are scikit-learn's,
KS is scipy's two-sample statistic; the calibration table is our own: equal-count bins with
their counts (``sklearn.calibration.calibration_curve`` bins by quantile edges, which put
tied PDs in one bin and unequal counts in the others, and reports no counts).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import ks_2samp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.metrics import log_loss as sk_log_loss

FloatArray = npt.NDArray[np.float64]
CALIBRATION_BINS = 10


def _both_classes(y: FloatArray) -> bool:
    positives = float(y.sum())
    return 0.0 < positives < len(y)


def auc(y: npt.ArrayLike, risk: npt.ArrayLike) -> float:
    """ROC AUC (ties counted half); NaN if only one class is present."""
    y_arr = np.asarray(y, dtype=np.float64)
    if not _both_classes(y_arr):
        return math.nan
    return float(roc_auc_score(y_arr, np.asarray(risk, dtype=np.float64)))


def ks_statistic(y: npt.ArrayLike, risk: npt.ArrayLike) -> float:
    """Kolmogorov–Smirnov: max distance between the bad and good cumulative distributions."""
    y_arr = np.asarray(y, dtype=np.float64)
    if not _both_classes(y_arr):
        return math.nan
    r = np.asarray(risk, dtype=np.float64)
    # the statistic does not depend on the method; "asymp" skips the exact p-value's cost
    return float(ks_2samp(r[y_arr == 1], r[y_arr == 0], method="asymp").statistic)


def brier(y: npt.ArrayLike, pd: npt.ArrayLike) -> float:
    """Mean squared error of the PD."""
    return float(brier_score_loss(np.asarray(y, dtype=np.float64), np.asarray(pd, dtype=np.float64)))


def log_loss(y: npt.ArrayLike, pd: npt.ArrayLike) -> float:
    """Binary cross-entropy (PDs clipped to machine epsilon from 0 and 1)."""
    return float(
        sk_log_loss(np.asarray(y, dtype=np.float64), np.asarray(pd, dtype=np.float64), labels=[0.0, 1.0])
    )


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


def fit_platt(margin: npt.ArrayLike, y: npt.ArrayLike) -> tuple[float, float]:
    """Fit ``P(default) = sigmoid(a·margin + b)`` by maximum likelihood; returns ``(a, b)``.

    Unpenalised (``C=inf``) logistic regression with L-BFGS to a tight tolerance: the same
    data give the same ``(a, b)``.
    """
    x = np.asarray(margin, dtype=np.float64).reshape(-1, 1)
    fit = LogisticRegression(C=math.inf, solver="lbfgs", tol=1e-10, max_iter=1000)
    fit.fit(x, np.asarray(y, dtype=np.float64))
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])
