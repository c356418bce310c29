"""In-process scoring benchmark; prints JSON.

Single applicant, three ways, each idle and while another core is kept busy by a spinning
subprocess:

* ``explain_applicant`` — the service path: validate, build a float64 row, LightGBM
  ``pred_contrib`` with one thread, points, grade, reasons;
* ``raw_pred_contrib`` — ``booster.predict(x, pred_contrib=True, num_threads=1)`` alone;
* ``shap_per_request`` — a new ``shap.TreeExplainer(booster)`` and ``shap_values`` per request.

Batch: rows/minute with full explanations (``explain_batch``) over ``--rows`` synthetic rows.

Run: ``.venv/bin/python bench/scoring_inprocess.py [--rows 100000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from services.scoring.domain.explain import explain_applicant, explain_batch
from services.scoring.domain.matrix import frame_to_matrix, row_to_matrix
from services.scoring.domain.spec import validate_features
from services.scoring.domain.synthetic import generate
from services.scoring.domain.training import train_model
from services.scoring.repository.specs import load_segment_spec


def _latency(fn: Callable[[], object], iterations: int, warmup: int = 20) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    p99_index = min(len(samples) - 1, round(0.99 * (len(samples) - 1)))
    return {
        "iterations": iterations,
        "p50_us": round(statistics.median(samples) * 1e6, 1),
        "p99_us": round(samples[p99_index] * 1e6, 1),
        "mean_us": round(statistics.fmean(samples) * 1e6, 1),
        "per_second": round(len(samples) / sum(samples), 1),
    }


def _single_row(model: Any, features: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    import shap

    booster = model.booster
    row = row_to_matrix(model.spec, validate_features(model.spec, features))

    def shap_per_request() -> object:
        explainer = shap.TreeExplainer(booster)
        return explainer.shap_values(row)

    result = {
        "explain_applicant": _latency(lambda: explain_applicant(model, features), args.iterations),
        "raw_pred_contrib": _latency(
            lambda: booster.predict(row, pred_contrib=True, num_threads=1), args.iterations
        ),
        "shap_per_request": _latency(shap_per_request, args.shap_iterations, warmup=3),
    }
    ours = result["explain_applicant"]["p50_us"]
    result["ratio_p50"] = {
        "shap_per_request_vs_explain_applicant": round(result["shap_per_request"]["p50_us"] / ours, 1),
        "explain_applicant_vs_raw_pred_contrib": round(ours / result["raw_pred_contrib"]["p50_us"], 2),
    }
    return result


def _busy_core() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def _batch(model: Any, args: argparse.Namespace) -> dict[str, Any]:
    explain_seconds = 0.0
    prepare_seconds = 0.0
    done = 0
    chunk_seed = args.seed + 1000
    while done < args.rows:
        size = min(args.chunk, args.rows - done)
        start = time.perf_counter()
        x = frame_to_matrix(model.spec, generate(model.segment, size, chunk_seed))
        prepare_seconds += time.perf_counter() - start
        start = time.perf_counter()
        batch = explain_batch(model, x, num_threads=args.batch_threads)
        _ = batch.reason_index, batch.grades
        explain_seconds += time.perf_counter() - start
        done += size
        chunk_seed += 1
    return {
        "rows": done,
        "threads": args.batch_threads,
        "chunk": args.chunk,
        "explain_seconds": round(explain_seconds, 2),
        "rows_per_minute": round(done / explain_seconds * 60.0),
        "rows_per_second": round(done / explain_seconds),
        "generate_and_encode_seconds": round(prepare_seconds, 2),
    }


def main() -> None:
    """Parse arguments, run the benchmarks, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segment", default="farmer", choices=["farmer", "enterprise"])
    parser.add_argument("--train-rows", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--shap-iterations", type=int, default=200)
    parser.add_argument("--rows", type=int, default=1_000_000, help="batch rows (0 to skip)")
    parser.add_argument("--chunk", type=int, default=100_000)
    parser.add_argument("--batch-threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--no-busy", action="store_true", help="skip the busy-core run")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    spec = load_segment_spec(args.segment)
    frame = generate(args.segment, args.train_rows, args.seed)
    start = time.perf_counter()
    model = train_model(spec, frame, seed=args.seed)
    train_seconds = time.perf_counter() - start
    features = dict(spec.example)

    report: dict[str, Any] = {
        "segment": args.segment,
        "cpu_count": os.cpu_count(),
        "model": {
            "train_rows": args.train_rows,
            "train_seconds": round(train_seconds, 2),
            "trees": model.booster.num_trees(),
            "features": len(spec.features),
            "artifact_sha256": model.artifact_sha256,
            "test_auc": round(model.metadata["metrics"]["test"]["auc"], 4),
        },
        "single_row": {"idle": _single_row(model, features, args)},
    }
    if not args.no_busy:
        spinner = _busy_core()
        try:
            time.sleep(0.3)
            report["single_row"]["one_core_busy"] = _single_row(model, features, args)
        finally:
            spinner.terminate()
            spinner.wait(timeout=10)
    if args.rows > 0:
        report["batch"] = _batch(model, args)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
